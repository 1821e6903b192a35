"""Tables of the TAXII store (SQLAlchemy Core), and the engine with its durability settings.

One row per object version, keyed by (collection, id, version) where the version is the
object's ``modified`` (else ``created``, else its ``date_added``: TAXII 2.1 §3.4.1) in
microseconds. ``date_added`` is unique and strictly increasing per collection, and commit order
equals ``date_added`` order (a writer holds the collection row's lock until it commits), so a
cursor of (date_added, id) never skips an object that was committed later.

SQLite runs in WAL mode with ``synchronous=FULL``: a commit returns only after the WAL is on
disk, so an acknowledged POST survives a killed process *and* a power cut (``NORMAL`` would
survive the first but may lose the last commits on the second). Writers open their transaction
with ``BEGIN IMMEDIATE`` so two writers never deadlock on upgrading a read lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    make_url,
)

__all__ = ["collections", "grants", "make_engine", "metadata", "objects", "statuses", "users"]

metadata = MetaData()

collections = Table(
    "taxii_collections",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("alias", String(100), nullable=True),
    Column("writable", Boolean, nullable=False),
    Column("last_added", BigInteger, nullable=False, default=0),
)

objects = Table(
    "taxii_objects",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("collection_id", String(64), ForeignKey("taxii_collections.id"), nullable=False),
    Column("object_id", String(300), nullable=False),
    Column("type", String(250), nullable=False),
    Column("spec_version", String(10), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("version_text", String(64), nullable=False),
    Column("date_added", BigInteger, nullable=False),
    Column("is_first", Boolean, nullable=False),
    Column("is_last", Boolean, nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("collection_id", "object_id", "version", name="uq_taxii_object_version"),
    UniqueConstraint("collection_id", "date_added", name="uq_taxii_object_added"),
    Index("ix_taxii_objects_last", "collection_id", "is_last", "date_added"),
)

statuses = Table(
    "taxii_status",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("collection_id", String(64), nullable=False),
    Column("owner", String(200), nullable=True),
    Column("request_timestamp", BigInteger, nullable=False),
    Column("total_count", Integer, nullable=False),
    Column("success_count", Integer, nullable=False),
    Column("failure_count", Integer, nullable=False),
    Column("successes", Text, nullable=False),
    Column("failures", Text, nullable=False),
)

users = Table(
    "taxii_users",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("password_hash", String(300), nullable=True),
    Column("api_key_id", String(64), nullable=True, unique=True),
    Column("api_key_hash", String(300), nullable=True),
)

grants = Table(
    "taxii_grants",
    metadata,
    Column("user_name", String(200), ForeignKey("taxii_users.name"), primary_key=True),
    Column("collection_id", String(64), primary_key=True),
    Column("can_read", Boolean, nullable=False),
    Column("can_write", Boolean, nullable=False),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below issue BEGIN, instead of pysqlite's own handling.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    immediate = conn.get_execution_options().get("taxii_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the tables created (idempotent, safe from several processes)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        with engine.connect().execution_options(taxii_write=True) as conn, conn.begin():
            metadata.create_all(conn)
    else:
        engine = create_engine(url, pool_size=8, pool_pre_ping=True)
        with engine.begin() as conn:
            # Serialize schema creation between processes starting at once.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
            metadata.create_all(conn)
    return engine
