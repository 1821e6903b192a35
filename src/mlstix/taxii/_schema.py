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
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

from mlstix.taxii._faults import (
    DamagedDatabase,
    StoreError,
    check_sqlite_file,
    create_private_file,
    integrity_hint,
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
    Column("body_crc", BigInteger, nullable=True),
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


def _schema_current(conn: Connection) -> bool:
    """Whether every table and column exists already (then a start writes nothing)."""
    inspector = inspect(conn)
    names = set(inspector.get_table_names())
    if not all(t.name in names for t in metadata.sorted_tables):
        return False
    return {c["name"] for c in inspector.get_columns(objects.name)} >= set(objects.c.keys())


def _migrate(conn: Connection) -> None:
    metadata.create_all(conn)
    present = {c["name"] for c in inspect(conn).get_columns(objects.name)}
    if "body_crc" not in present:  # databases of the first release
        conn.exec_driver_sql(f"ALTER TABLE {objects.name} ADD COLUMN body_crc BIGINT")
        _add_digests(conn)


def _add_digests(conn: Connection) -> None:
    """Digest the bodies stored without one (once, at the upgrade); a body that is not JSON
    keeps none and is reported as damaged when read."""
    import json
    import zlib

    rows = conn.execute(select(objects.c.seq, objects.c.body)).all()
    updates = []
    for seq, body in rows:
        try:
            json.loads(body)
        except ValueError:
            continue
        updates.append({"s": seq, "c": zlib.crc32(body.encode("utf-8"))})
    for start in range(0, len(updates), 1000):
        conn.execute(
            update(objects).where(objects.c.seq == bindparam("s")).values(body_crc=bindparam("c")),
            updates[start : start + 1000],
        )


def _open_sqlite(url: str, database: str) -> Engine:
    path = Path(database)
    if not check_sqlite_file(path):
        create_private_file(path)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    try:
        with engine.connect() as conn:
            current = _schema_current(conn)
        if not current:
            with engine.connect().execution_options(taxii_write=True) as conn, conn.begin():
                _migrate(conn)
    except DBAPIError as exc:
        engine.dispose()
        orig = exc.orig
        name = str(getattr(orig, "sqlite_errorname", ""))
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            raise DamagedDatabase(
                f"the database {path} is damaged ({orig}); {integrity_hint(str(path))}"
            ) from None
        raise StoreError(f"cannot open the database {path}: {orig}") from None
    return engine


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the tables created (idempotent, safe from several processes).

    A database whose schema is current is only read: a server restarts on a full disk."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            return _open_sqlite(url, parsed.database)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        with engine.begin() as conn:
            metadata.create_all(conn)
        return engine
    engine = create_engine(url, pool_size=8, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            current = _schema_current(conn)
        if not current:
            with engine.begin() as conn:
                # Serialize schema creation between processes starting at once.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
                _migrate(conn)
    except DBAPIError as exc:
        engine.dispose()
        where = parsed.render_as_string(hide_password=True)
        raise StoreError(f"cannot open the database {where}: {exc.orig}") from None
    return engine
