"""Readers of the lean path (:mod:`mlstix.taxii._front`): pages of stored objects as the bytes
they were stored as, straight from the database driver, on the event loop.

Both readers run the query of :meth:`mlstix.taxii.store.Store.query` (the same WHERE clause,
keyset on ``date_added``), take the bodies as bytes (never decoded to ``str`` and encoded again)
and check each against its CRC-32. Each page comes with the version of the data it was read
from, for the page cache, and a cached page is checked by reading that version alone:

- :class:`SqliteReader`: one ``sqlite3`` connection, synchronous (a local file: a page takes
  well under a millisecond). The version is ``PRAGMA data_version`` (any commit by any other
  connection changes it), read just before the page.
- :class:`PostgresReader`: a few asynchronous ``psycopg`` connections (``psycopg_pool``), so a
  slow database never stalls the event loop; statements are prepared on first use. The version
  is the collection's ``last_added``, which every write of objects to it moves forward (adding
  and deleting, in the transaction that does it), read in the page's own statement: a page is
  one round trip.

Both open their connections at the first read, in the process (and event loop) that serves. A
reader returns ``None`` when it cannot answer (a damaged row, a lost connection): the caller
then passes the request to the app, which answers or reports the error in its one place.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import zlib
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from mlstix.taxii._values import Filters

if TYPE_CHECKING:
    import psycopg

__all__ = ["PageData", "PostgresReader", "Reader", "SqliteReader", "reader_for"]

log = logging.getLogger("mlstix.taxii")


class PageData(NamedTuple):
    first_added: int
    last_added: int
    last_id: bytes
    bodies: list[bytes]
    more: bool
    version: int | None  # the collection's last_added as read with the page (None: no row)


class Reader(Protocol):
    async def version(self, cid: str) -> int | None: ...

    async def page(
        self, cid: str, flt: Filters, limit: int, after: int | None, max_bytes: int
    ) -> PageData | None: ...

    async def aclose(self) -> None: ...


def where_clause(
    cid: str, flt: Filters, floor: int | None, mark: str, true: str
) -> tuple[str, list[Any]]:
    """The WHERE clause of Store.query as SQL text with ``mark`` placeholders (``?``, ``%s``)
    and ``true`` the boolean literal of the database."""
    parts: list[str] = [f"collection_id = {mark}"]
    args: list[Any] = [cid]
    for column, values in (
        ("object_id", flt.ids),
        ("type", flt.types),
        ("spec_version", flt.spec_versions),
    ):
        if values:
            parts.append(f"{column} IN ({','.join([mark] * len(values))})")
            args.extend(values)
    vf = flt.versions
    if not vf.all:
        alts = []
        if vf.first:
            alts.append(f"is_first = {true}")
        if vf.last:
            alts.append(f"is_last = {true}")
        if vf.timestamps:
            alts.append(f"version IN ({','.join([mark] * len(vf.timestamps))})")
            args.extend(vf.timestamps)
        if alts:
            parts.append(f"({' OR '.join(alts)})")
    if floor is not None:
        parts.append(f"date_added > {mark}")
        args.append(floor)
    return " AND ".join(parts), args


def _sql(cid: str, flt: Filters, limit: int, after: int | None, mark: str, true: str) -> Any:
    floor = max((v for v in (flt.added_after, after) if v is not None), default=None)
    where, args = where_clause(cid, flt, floor, mark, true)
    # Only placeholders and fixed column names go into the text; values are parameters.
    sql = (
        "SELECT date_added, object_id, body, body_crc, "  # noqa: S608
        f"(SELECT last_added FROM taxii_collections WHERE id = {mark}) "
        f"FROM taxii_objects WHERE {where} ORDER BY date_added LIMIT {mark}"
    )
    return sql, [cid, *args, limit + 1]


_VERSION_SQL = "SELECT last_added FROM taxii_collections WHERE id = {mark}"


def _assemble(rows: list[Any], limit: int, max_bytes: int) -> PageData | None:
    """The page of ``rows`` (up to ``limit`` + 1 of date_added, id, body, digest); ``None`` when a
    body does not match its digest. Bodies beyond ``max_bytes`` wait for the next page (one
    larger than the cap still comes, alone)."""
    more = len(rows) > limit
    rows = rows[:limit]
    bodies = [r[2] for r in rows]
    if list(map(zlib.crc32, bodies)) != [r[3] for r in rows]:  # a NULL digest differs too
        return None
    if sum(map(len, bodies)) + len(bodies) > max_bytes:
        size = 0
        keep = len(bodies)
        for index, body in enumerate(bodies):
            size += len(body) + 1
            if index and size > max_bytes:
                keep = index
                break
        more = more or keep < len(bodies)
        rows, bodies = rows[:keep], bodies[:keep]
    if not rows:
        return PageData(0, 0, b"", [], more, None)
    return PageData(rows[0][0], rows[-1][0], rows[-1][1], bodies, more, rows[0][4])


class SqliteReader:
    """One ``sqlite3`` connection, opened at the first read, used only from the event loop."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def _execute(self, sql: str, args: list[Any]) -> list[Any] | None:
        try:
            if self._conn is None:
                if self._closed:
                    return None
                self._conn = sqlite3.connect(
                    self._path, check_same_thread=False, cached_statements=256
                )
                self._conn.text_factory = bytes
                self._conn.execute("PRAGMA query_only = 1")
                self._conn.execute("PRAGMA busy_timeout = 2000")
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error:
            return None

    async def aclose(self) -> None:
        self._closed = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def version(self, cid: str) -> int | None:
        # Needs no read transaction: cheaper than reading the collection's row.
        rows = self._execute("PRAGMA data_version", [])
        return int(rows[0][0]) if rows else None

    async def page(
        self, cid: str, flt: Filters, limit: int, after: int | None, max_bytes: int
    ) -> PageData | None:
        version = await self.version(cid)  # before the page: newer rows never pass as older
        rows = self._execute(*_sql(cid, flt, limit, after, "?", "1"))
        if rows is None or version is None:
            return None
        page = _assemble(rows, limit, max_bytes)
        if page is None or not page.bodies:
            return page
        return page._replace(version=version)


class PostgresReader:
    """A small pool (psycopg_pool) of asynchronous ``psycopg`` connections, opened at the first
    read. When the database cannot be reached, the lean path stands aside for ``pause`` seconds:
    the app answers meanwhile, and reports the database's state."""

    pause = 1.0
    wait = 2.0  # seconds to wait for a connection of the pool

    def __init__(self, conninfo: str, size: int = 4) -> None:
        from psycopg_pool import AsyncConnectionPool

        self._pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=size,
            open=False,
            configure=_configure,
            kwargs={"autocommit": True, "prepare_threshold": 0, "connect_timeout": 5},
            timeout=self.wait,
            reconnect_timeout=0,  # keep trying: the server may come back
        )
        self._opened = False
        self._down_until = 0.0

    async def _fetch(self, sql: str, args: list[Any]) -> list[Any] | None:
        import psycopg
        from psycopg_pool import PoolTimeout

        if time.monotonic() < self._down_until:
            return None
        try:
            if not self._opened:
                self._opened = True
                await self._pool.open(wait=False)
            async with self._pool.connection() as conn:
                cur = await conn.execute(sql, args)
                return await cur.fetchall()
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            self._down_until = time.monotonic() + self.pause
            log.debug("lean read path: PostgreSQL did not answer (%s)", exc)
            return None
        except UnicodeError:  # a filter value the connection's encoding cannot carry
            return None

    async def version(self, cid: str) -> int | None:
        rows = await self._fetch(_VERSION_SQL.format(mark="%s"), [cid])
        return int(rows[0][0]) if rows else None

    async def page(
        self, cid: str, flt: Filters, limit: int, after: int | None, max_bytes: int
    ) -> PageData | None:
        sql, args = _sql(cid, flt, limit, after, "%s", "true")
        rows = await self._fetch(sql, args)
        return None if rows is None else _assemble(rows, limit, max_bytes)

    async def aclose(self) -> None:
        if self._opened:
            await self._pool.close()


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    """Text columns come as the stored bytes; the session reads only."""
    from psycopg.adapt import Loader

    class AsBytes(Loader):
        def load(self, data: Any) -> bytes:
            return bytes(data)

    for oid in ("text", "varchar"):
        conn.adapters.register_loader(oid, AsBytes)
    await conn.execute("SET default_transaction_read_only = on")


def reader_for(url: str) -> Reader | None:
    """The lean reader of a database URL (SQLite file or PostgreSQL), else ``None``."""
    from sqlalchemy import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return None
        return SqliteReader(parsed.database)
    if backend == "postgresql" and parsed.get_driver_name() == "psycopg":
        try:
            import psycopg_pool  # noqa: F401
        except ImportError:
            log.warning("no psycopg_pool: pages are read the slow way (pip install mlstix[serve])")
            return None
        conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresReader(conninfo)
    return None
