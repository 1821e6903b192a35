"""The incremental scan state: per object, the identity it had (ETag and modification time,
version id, generation, blob id) and what its scan found, so a rescan analyses only new and
changed objects and still reports the whole location.

Two stores run the same SQL (named parameters; one transaction to read, one to write):

- SQLite through the standard library's ``sqlite3`` (``--state FILE``, the default): a nightly
  rescan pays no import for it;
- any other database URL through SQLAlchemy, the TAXII server's storage layer: PostgreSQL for a
  state shared by scheduled jobs (``--state postgresql+psycopg://...``).

A row is reused only when the object's identity *and* the scan's fingerprint (mlstix version,
the model scanner's rule version, import allowlist, limits, hashing, byte cap) are the same,
and only when its scan completed without an error. Rows are keyed by the object's full URL, so
one state serves many locations: a scan reads and prunes only the rows under the locations it
lists. The state records its schema version; a state written by a newer mlstix, a table of
that name that is not a scan state, and a file that is not a database are each one error.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlstix.errors import MlstixError

__all__ = ["SCHEMA", "Row", "StateError", "StateStore"]

SCHEMA = 2  # 1: the same table, written before the schema was recorded
# the SQL both stores run (SQLite and PostgreSQL; named parameters)
_DDL = (
    "CREATE TABLE IF NOT EXISTS mlstix_remote_scan_state (url VARCHAR(2048) PRIMARY KEY, "
    "identity VARCHAR(512) NOT NULL, fingerprint VARCHAR(64) NOT NULL, kind VARCHAR(64), "
    "sha256 VARCHAR(64), hits TEXT NOT NULL, scanned_at FLOAT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS mlstix_remote_scan_meta (name VARCHAR(64) PRIMARY KEY, "
    "value TEXT NOT NULL)",
)
_CHECK = (
    "SELECT url, identity, fingerprint, kind, sha256, hits, scanned_at "
    "FROM mlstix_remote_scan_state WHERE 1 = 0"
)
_GET_SCHEMA = "SELECT value FROM mlstix_remote_scan_meta WHERE name = 'schema'"
_PUT_SCHEMA = "INSERT INTO mlstix_remote_scan_meta (name, value) VALUES ('schema', :value)"
_SELECT = (
    "SELECT url, identity, fingerprint, kind, sha256, hits FROM mlstix_remote_scan_state "
    "WHERE url = :url OR url LIKE :under ESCAPE '\\'"
)
_DELETE = "DELETE FROM mlstix_remote_scan_state WHERE url = :url"
_INSERT = (
    "INSERT INTO mlstix_remote_scan_state "
    "(url, identity, fingerprint, kind, sha256, hits, scanned_at) "
    "VALUES (:url, :identity, :fingerprint, :kind, :sha256, :hits, :scanned_at)"
)
_BATCH = 500


class StateError(MlstixError):
    """The state cannot be opened, read or written."""


@dataclass(frozen=True)
class Row:
    url: str
    identity: str
    fingerprint: str
    kind: str | None
    sha256: str | None
    hits: list[dict[str, Any]]


class _Conn(Protocol):
    def run(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

    def run_many(self, sql: str, params: list[dict[str, Any]]) -> None: ...


class _Sqlite:
    """A SQLite file through ``sqlite3`` (named parameters, one transaction per ``begin``)."""

    error: type[Exception] = sqlite3.Error

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)

    @contextmanager
    def begin(self) -> Iterator[_Conn]:
        self.db.execute("BEGIN")
        try:
            yield self
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()

    def run(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, params or {}).fetchall()

    def run_many(self, sql: str, params: list[dict[str, Any]]) -> None:
        self.db.executemany(sql, params)

    def close(self) -> None:
        self.db.close()


class _Alchemy:
    """Any other database, through a SQLAlchemy engine (PostgreSQL with psycopg)."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.error: type[Exception] = sa.exc.SQLAlchemyError
        self.engine = sa.create_engine(url)
        self._conn: Any = None

    @contextmanager
    def begin(self) -> Iterator[_Conn]:
        with self.engine.begin() as conn:
            self._conn = conn
            try:
                yield self
            finally:
                self._conn = None

    def run(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        result = self._conn.execute(self.sa.text(sql), params or {})
        return [tuple(r) for r in result] if result.returns_rows else []

    def run_many(self, sql: str, params: list[dict[str, Any]]) -> None:
        if params:
            self._conn.execute(self.sa.text(sql), params)

    def close(self) -> None:
        self.engine.dispose()


def _shown(where: str) -> str:
    """``where`` as it may be printed: a URL without its password."""
    if "://" not in where:
        return where
    base = where.split("?", 1)[0]  # a query may carry a password too
    scheme, rest = base.split("://", 1)
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return base
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def _sqlite_path(where: str) -> Path | None:
    """The file of a SQLite state (a path, or a plain ``sqlite:///PATH`` URL), else ``None``."""
    if where.startswith("sqlite:///") and "?" not in where:
        where = where.removeprefix("sqlite:///")  # sqlite:////abs/path keeps its slash
        if where in ("", ":memory:"):
            return None
    elif "://" in where:
        return None
    path = Path(where)
    if path.is_dir():
        raise StateError(f"--state {where}: is a folder; give a file or a database URL")
    if not path.parent.is_dir():
        raise StateError(f"--state {where}: no such folder {path.parent}")
    return path


class StateStore:
    """The state in the database at ``where`` (a file path for SQLite, or a database URL)."""

    def __init__(self, where: str) -> None:
        self.where = where
        path = _sqlite_path(where)
        try:
            self._db: _Sqlite | _Alchemy = _Sqlite(path) if path else self._alchemy(where)
        except StateError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"--state {_shown(where)}: cannot open: {_short(exc)}") from None
        try:
            self._prepare()
        except BaseException:
            self._db.close()
            raise

    def _alchemy(self, where: str) -> _Alchemy:
        try:
            return _Alchemy(where)
        except ImportError as exc:  # SQLAlchemy itself, or the database driver (psycopg)
            raise StateError(
                f"--state {_shown(where)}: needs the Python package {exc.name!r}",
                hint="pip install 'mlstix[remote]' (psycopg for PostgreSQL)",
            ) from None
        except Exception as exc:  # SQLAlchemy's ArgumentError for a URL it cannot parse
            raise StateError(f"--state {_shown(where)}: not a database URL: {exc}") from None

    def _fail(self, what: str, exc: BaseException) -> StateError:
        return StateError(
            f"--state {_shown(self.where)}: cannot {what}: {_short(exc)}",
            hint="give a new --state file or database; the next scan then analyses everything",
        )

    def _prepare(self) -> None:
        """Create the tables if missing; refuse a state that is not ours or is newer."""
        try:
            with self._db.begin() as conn:
                for ddl in _DDL:
                    conn.run(ddl)
                conn.run(_CHECK)
                found = conn.run(_GET_SCHEMA)
                if not found:
                    conn.run(_PUT_SCHEMA, {"value": str(SCHEMA)})
        except self._db.error as exc:
            raise self._fail("open", exc) from None
        except OSError as exc:
            raise self._fail("open", exc) from None
        value = str(found[0][0]) if found else str(SCHEMA)
        if not value.isdigit() or int(value) > SCHEMA:
            raise StateError(
                f"--state {_shown(self.where)}: written by another mlstix (state schema "
                f"{value[:20]!r}; this one reads schema {SCHEMA} and older)",
                hint="give a new --state file or database, or use that mlstix version",
            )

    def load(self, roots: Iterable[str]) -> dict[str, Row]:
        """The rows of every object under the locations ``roots``, in one transaction. A row
        whose findings cannot be read back is left out (its object is scanned again)."""
        out: dict[str, Row] = {}
        try:
            with self._db.begin() as conn:
                for root in roots:
                    prefix = root.rstrip("/")
                    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                    for url, identity, fp, kind, sha256, hits in conn.run(
                        _SELECT, {"url": prefix, "under": like + "/%"}
                    ):
                        row = _row(url, identity, fp, kind, sha256, hits)
                        if row is not None:
                            out[row.url] = row
        except self._db.error as exc:
            raise self._fail("read", exc) from None
        return out

    def save(self, rows: Iterable[Row], gone: Iterable[str]) -> None:
        """Write ``rows`` and delete the rows of objects in ``gone``, in one transaction."""
        now = time.time()
        values = [
            {"url": r.url, "identity": r.identity, "fingerprint": r.fingerprint, "kind": r.kind,
             "sha256": r.sha256, "hits": json.dumps(r.hits, sort_keys=True, default=str),
             "scanned_at": now}
            for r in rows
        ]  # fmt: skip
        urls = [{"url": v["url"]} for v in values] + [{"url": u} for u in gone]
        try:
            with self._db.begin() as conn:
                for i in range(0, len(urls), _BATCH):
                    conn.run_many(_DELETE, urls[i : i + _BATCH])
                for i in range(0, len(values), _BATCH):
                    conn.run_many(_INSERT, values[i : i + _BATCH])
        except self._db.error as exc:
            raise self._fail("write", exc) from None

    def close(self) -> None:
        self._db.close()


def _row(url: Any, identity: Any, fp: Any, kind: Any, sha256: Any, hits: Any) -> Row | None:
    if not all(isinstance(v, str) for v in (url, identity, fp, hits)):
        return None
    if not all(v is None or isinstance(v, str) for v in (kind, sha256)):
        return None
    try:
        found = json.loads(hits)
    except ValueError:
        return None
    if not isinstance(found, list):
        return None
    return Row(url, identity, fp, kind, sha256, found)


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
