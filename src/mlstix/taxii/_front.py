"""The ASGI layer in front of the FastAPI app: the lean read path, and slash redirects.

Paged object reads (``GET .../collections/{id}/objects/``, TAXII 2.1 §5.3) are what TAXII
clients do most: a TIP polls a collection and follows ``next`` page after page. On SQLite this
layer answers them itself, on the event loop, with one prepared statement through the
``sqlite3`` module (bodies read as bytes, checked against their digest and joined without being
decoded): no routing, no dependency injection, no thread-pool hop. What it sent is kept in a
:class:`PageCache` until the database changes, so polling clients re-reading the same pages cost
one ``PRAGMA data_version``. It takes a request only when
it can answer it exactly as the FastAPI route would — an anonymous or recently verified client
(no secret to check), an acceptable ``Accept``, a known readable collection, valid filters — and
passes everything else, errors included, to the app, so that every error is written in one place.

A path without its trailing slash is redirected (308) to the path with it, relative to the
server (RFC 9110 §10.2.2 allows a relative ``Location``): the ``Host`` header is never echoed.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from mlstix.taxii._http import TAXII_MEDIA, accepts_taxii
from mlstix.taxii._query import (
    ALL_FILTERS,
    QueryError,
    decode_cursor,
    encode_cursor,
    parse_filters,
    parse_limit,
)
from mlstix.taxii._time import format_us
from mlstix.taxii._values import Filters

if TYPE_CHECKING:
    from mlstix.taxii.app import Server

__all__ = ["Front", "LeanReader", "PageCache"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_COLUMNS = "object_id, version_text, date_added, body, body_crc"


def _where(cid: str, flt: Filters, floor: int | None) -> tuple[str, list[Any]]:
    """The WHERE clause of Store.query, as SQL text for the sqlite3 module."""
    parts: list[str] = ["collection_id = ?"]
    args: list[Any] = [cid]
    for column, values in (
        ("object_id", flt.ids),
        ("type", flt.types),
        ("spec_version", flt.spec_versions),
    ):
        if values:
            parts.append(f"{column} IN ({','.join('?' * len(values))})")
            args.extend(values)
    vf = flt.versions
    if not vf.all:
        alts = []
        if vf.first:
            alts.append("is_first = 1")
        if vf.last:
            alts.append("is_last = 1")
        if vf.timestamps:
            alts.append(f"version IN ({','.join('?' * len(vf.timestamps))})")
            args.extend(vf.timestamps)
        if alts:
            parts.append(f"({' OR '.join(alts)})")
    if floor is not None:
        parts.append("date_added > ?")
        args.append(floor)
    return " AND ".join(parts), args


class LeanReader:
    """One ``sqlite3`` connection, used only from the event loop, reading pages of objects."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, cached_statements=256)
        self._conn.text_factory = bytes
        self._conn.execute("PRAGMA query_only = 1")
        self._conn.execute("PRAGMA busy_timeout = 2000")

    def close(self) -> None:
        self._conn.close()

    def data_version(self) -> int:
        """Changes whenever another connection (any process) commits to the database."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def page(
        self, cid: str, flt: Filters, limit: int, after: int | None, max_bytes: int
    ) -> tuple[list[Any], list[bytes], bool] | None:
        """Up to ``limit`` rows (id, version, date_added, body, digest), their bodies, and
        whether more follow; ``None`` when a row is damaged (the app then answers, and reports
        it)."""
        floor = max((v for v in (flt.added_after, after) if v is not None), default=None)
        where, args = _where(cid, flt, floor)
        # Only placeholders and fixed column names go into the text; values are parameters.
        sql = f"SELECT {_COLUMNS} FROM taxii_objects WHERE {where} ORDER BY date_added LIMIT ?"  # noqa: S608
        rows = self._conn.execute(sql, [*args, limit + 1]).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        bodies = [r[3] for r in rows]
        if list(map(zlib.crc32, bodies)) != [r[4] for r in rows]:  # a NULL digest differs too
            return None
        if sum(map(len, bodies)) + len(bodies) > max_bytes:
            size = 0
            keep = len(bodies)  # one body larger than the cap still comes, alone
            for index, body in enumerate(bodies):
                size += len(body) + 1
                if index and size > max_bytes:
                    keep = index
                    break
            rows, bodies, more = rows[:keep], bodies[:keep], more or keep < len(bodies)
        return rows, bodies, more


class PageCache:
    """Answers already sent, keyed by collection and query string, valid while the database's
    ``data_version`` stays the same (any commit, by any process, empties it). Bounded in bytes,
    least recently used first out. Polling clients read the same pages again and again."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, bytes], tuple[bytes, list[tuple[bytes, bytes]]]]
        self._entries = OrderedDict()
        self._size = 0
        self._version = -1

    def get(
        self, key: tuple[str, bytes], version: int
    ) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        if version != self._version:
            self._entries.clear()
            self._size = 0
            self._version = version
            return None
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
        return hit

    def put(self, key: tuple[str, bytes], body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        if not self.max_bytes or len(body) > self.max_bytes // 8 or key in self._entries:
            return
        self._entries[key] = (body, headers)
        self._size += len(body)
        while self._size > self.max_bytes:
            _, (old, _) = self._entries.popitem(last=False)
            self._size -= len(old)


class Front:
    def __init__(self, app: ASGIApp, server: Server, sqlite_path: str | None) -> None:
        self.cache = PageCache(server.config.page_cache_bytes)
        self.app = app
        self.server = server
        self.prefix = f"/{server.config.api_root}/collections/"
        self.reader = LeanReader(sqlite_path) if sqlite_path else None
        if self.reader is not None:
            server.on_close.append(self.reader.close)
        self._redirects = (f"/{server.config.api_root}", "/taxii2")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            hot = path.startswith(self.prefix) and path.endswith("/objects/")
            if hot and scope["method"] == "GET" and self.reader is not None:
                cid = path[len(self.prefix) : -len("/objects/")]
                if "/" not in cid and await self._objects(scope, send, cid):
                    return
            if not path.endswith("/") and path.startswith(self._redirects):
                await self._redirect(scope, send, path)
                return
        await self.app(scope, receive, send)

    async def _redirect(self, scope: Scope, send: Send, path: str) -> None:
        target = (scope.get("root_path", "") + path + "/").encode("utf-8", "replace")
        query = scope.get("query_string", b"")
        location = target.replace(b"\r", b"").replace(b"\n", b"")
        if query:
            location += b"?" + query
        headers = [(b"location", location), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 308, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _objects(self, scope: Scope, send: Send, cid: str) -> bool:
        server, reader = self.server, self.reader
        assert reader is not None
        auth = accept = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
        if accept is not None and accept.strip() and not accepts_taxii(accept):
            return False
        who = server.auth.cached(auth)
        info = server.cached_collection(cid)
        if who is None or info is None or not who.can_read(cid):
            return False
        raw_query: bytes = scope.get("query_string", b"")
        key = (cid, raw_query)
        try:
            hit = self.cache.get(key, reader.data_version())
        except sqlite3.Error:
            return False
        if hit is not None:
            await _respond(send, *hit)
            return True
        params = dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True))
        cfg = server.config
        try:
            flt = parse_filters(params, allowed=ALL_FILTERS)
            limit = parse_limit(params, cfg.default_page_size, cfg.max_page_size)
            after = decode_cursor(params["next"])[0] if "next" in params else None
            page = reader.page(cid, flt, limit, after, cfg.max_page_bytes)
        except (QueryError, sqlite3.Error):
            return False
        if page is None:
            return False
        rows, bodies, more = page
        headers = [(b"content-type", TAXII_MEDIA.encode())]
        if rows:
            last = rows[-1]
            headers += [
                (b"x-taxii-date-added-first", format_us(rows[0][2]).encode()),
                (b"x-taxii-date-added-last", format_us(last[2]).encode()),
            ]
        if more and rows:
            cursor = encode_cursor((last[2], last[0].decode("utf-8", "replace")))
            head = b'{"more":true,"next":"' + cursor.encode() + b'","objects":['
        else:
            head = b'{"more":false,"objects":['
        body = head + b",".join(bodies) + b"]}"
        headers.append((b"content-length", str(len(body)).encode()))
        self.cache.put(key, body, headers)
        await _respond(send, body, headers)
        return True


async def _respond(send: Send, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL (the lean path is SQLite only), else ``None``."""
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return str(Path(parsed.database))
