"""Storage faults of the TAXII server, each reported in one line.

At start, a SQLite file is checked before SQLAlchemy opens it: a 0-byte file, a file that is not
SQLite, and a file shorter than the page count its header records (a truncated copy) are refused
with one line naming the file and ``PRAGMA integrity_check``, instead of silently becoming a new
server or failing later with a traceback. A new file is created ``0600``: it holds password hashes.

While serving, database errors become TAXII error resources (TAXII 2.1 §3.6.1): a full disk is
507 Insufficient Storage, a busy database or an exhausted server 503 with ``Retry-After``, a
database server that cannot be reached 503 too, a damaged database or stored object 500 naming
what is damaged. The SQLite result codes come from ``sqlite3.Error.sqlite_errorname``;
PostgreSQL's from the SQLSTATE classes (53: insufficient resources, 08: connection exception,
XX: internal error).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

from mlstix.errors import MlstixError
from mlstix.taxii._http import TaxiiError

__all__ = [
    "DamagedDatabase",
    "DamagedObject",
    "StoreError",
    "check_sqlite_file",
    "create_private_file",
    "damaged_object",
    "http_fault",
    "integrity_hint",
    "startup_error",
]

log = logging.getLogger("mlstix.taxii")

_MAGIC = b"SQLite format 3\x00"


class StoreError(MlstixError):
    """The database cannot be opened or used."""


class DamagedDatabase(StoreError):
    """The database file is damaged or is not a database."""


class DamagedObject(Exception):
    """A stored object's body does not match its digest (or is not JSON)."""

    def __init__(self, object_id: str) -> None:
        super().__init__(object_id)
        self.object_id = object_id


def integrity_hint(path: str) -> str:
    return f"check it with: sqlite3 '{path}' 'PRAGMA integrity_check'"


def check_sqlite_file(path: Path) -> bool:
    """Whether ``path`` exists; raises :class:`DamagedDatabase` if it cannot be a sound
    database (empty, not SQLite, or shorter than its header says)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreError(f"cannot read the database {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"the database {path} is not a regular file")
    if info.st_size == 0:
        raise DamagedDatabase(
            f"the database {path} is empty (0 bytes), not a mlstix database: restore it from "
            "a backup, or remove it to start a new server"
        )
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise StoreError(f"cannot read the database {path}: {exc.strerror}") from None
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise DamagedDatabase(f"{path} is not a SQLite database; {integrity_hint(str(path))}")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    change_counter = int.from_bytes(header[24:28], "big")
    pages = int.from_bytes(header[28:32], "big")
    valid_for = int.from_bytes(header[92:96], "big")
    # The in-header size is authoritative only when "version-valid-for" matches the counter.
    if pages and valid_for == change_counter and info.st_size < pages * page_size:
        raise DamagedDatabase(
            f"the database {path} is truncated ({info.st_size} of {pages * page_size} bytes); "
            f"{integrity_hint(str(path))}"
        )
    return True


def create_private_file(path: Path) -> None:
    """Create an empty file readable by its owner only (SQLite gives its -wal and -shm files
    the same mode)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create the database {path}: {exc.strerror}") from None
    os.close(fd)


def _sqlite_name(exc: BaseException) -> str:
    return str(getattr(exc, "sqlite_errorname", "") or "")


def _sqlstate(exc: BaseException) -> str:
    return str(getattr(exc, "sqlstate", "") or "")


def _unreachable(exc: BaseException, orig: BaseException, state: str) -> bool:
    """A lost or refused connection to a database server (PostgreSQL: SQLSTATE class 08, the
    server shutting down, or a connection attempt that failed before any SQLSTATE)."""
    if state.startswith("08") or state in ("57P01", "57P02"):
        return True
    if getattr(exc, "connection_invalidated", False):
        return True
    kind = type(orig)
    from_psycopg = kind.__module__.startswith("psycopg")
    return not state and from_psycopg and kind.__name__ == "OperationalError"


def http_fault(exc: BaseException) -> TaxiiError:
    """The TAXII error for a database exception (the DBAPI one, or SQLAlchemy's wrapper)."""
    orig = getattr(exc, "orig", None) or exc
    name, state = _sqlite_name(orig), _sqlstate(orig)
    if name.startswith("SQLITE_FULL") or state == "53100":
        log.error("storage full: %s", orig)
        return TaxiiError(
            507, "Insufficient Storage", "the server's storage is full; nothing was stored"
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or state in ("53300", "57P03"):
        return TaxiiError(
            503, "Service Unavailable", "the database is busy; retry", {"Retry-After": "1"}
        )
    if _unreachable(exc, orig, state):
        log.error("the database cannot be reached: %s", orig)
        why = "the database cannot be reached; retry"
        return TaxiiError(503, "Service Unavailable", why, {"Retry-After": "5"})
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or state.startswith("XX"):
        log.error("the database is damaged: %s", orig)
        return TaxiiError(
            500, "Internal Server Error", "the server's database is damaged; tell its operator"
        )
    if isinstance(orig, sqlite3.Error) or state:
        log.error("database error: %s", orig)
    return TaxiiError(500, "Internal Server Error", "the server's database failed this request")


def startup_error(exc: BaseException, url: str) -> StoreError:
    """One line for a database error while the server prepares its database."""
    from sqlalchemy import make_url

    parsed = make_url(url)
    where = parsed.database if parsed.get_backend_name() == "sqlite" else None
    orig = getattr(exc, "orig", None) or exc
    shown = where or parsed.render_as_string(hide_password=True)
    if _sqlite_name(orig).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) and where:
        return DamagedDatabase(f"the database {where} is damaged ({orig}); {integrity_hint(where)}")
    return StoreError(f"cannot use the database {shown}: {orig}")


def damaged_object(exc: DamagedObject) -> TaxiiError:
    log.error("stored object %s does not match its digest: the database is damaged", exc.object_id)
    return TaxiiError(
        500,
        "Internal Server Error",
        f"stored object {exc.object_id!r} is damaged; tell the server's operator",
    )
