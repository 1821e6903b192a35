"""The ASGI layer in front of the FastAPI app: the lean read path, and slash redirects.

Paged object reads (``GET .../collections/{id}/objects/``, TAXII 2.1 §5.3) are what TAXII
clients do most: a TIP polls a collection and follows ``next`` page after page. This layer
answers them itself, on the event loop, through a reader of :mod:`mlstix.taxii._lean` (SQLite
or PostgreSQL): one prepared statement, bodies read as bytes, checked against their digest and
joined without being decoded; no routing, no dependency injection, no thread-pool hop. What it
sent is kept in a :class:`PageCache`, each page with the version of the collection it was read
from (its ``last_added``, read in the same statement), so polling clients re-reading the same
pages cost one small query. It takes a request only when it can answer it exactly as the
FastAPI route would — an anonymous or recently verified client (no secret to check), an
acceptable ``Accept``, a known readable collection, valid filters — and passes everything else,
errors included, to the app, so that every error is written in one place.

A path without its trailing slash is redirected (308) to the path with it, relative to the
server (RFC 9110 §10.2.2 allows a relative ``Location``): the ``Host`` header is never echoed.
HEAD is answered on every GET endpoint, as the GET without its body.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from mlstix.taxii._http import TAXII_MEDIA, accepts_taxii
from mlstix.taxii._lean import Reader
from mlstix.taxii._query import (
    ALL_FILTERS,
    QueryError,
    decode_cursor,
    encode_cursor,
    parse_filters,
    parse_limit,
)
from mlstix.taxii._time import format_us

if TYPE_CHECKING:
    from mlstix.taxii.app import Server

__all__ = ["Front", "PageCache"]

log = logging.getLogger("mlstix.taxii")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PageCache:
    """Answers already sent, keyed by collection and query string, each with the version of the
    collection it was read from: served again only while the collection has that version.
    Bounded in bytes, least recently used first out. Polling clients read the same pages again
    and again."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, bytes], tuple[int, bytes, list[tuple[bytes, bytes]]]]
        self._entries = OrderedDict()
        self._size = 0

    def get(self, key: tuple[str, bytes]) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        """(version, body, headers) of ``key``, whatever the version."""
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
        return hit

    def drop(self, key: tuple[str, bytes]) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._size -= len(old[1])

    def put(
        self, key: tuple[str, bytes], version: int, body: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        if not self.max_bytes or len(body) > self.max_bytes // 8:
            return
        self.drop(key)
        self._entries[key] = (version, body, headers)
        self._size += len(body)
        while self._size > self.max_bytes:
            _, (_, dropped, _) = self._entries.popitem(last=False)
            self._size -= len(dropped)


class Front:
    def __init__(self, app: ASGIApp, server: Server, reader: Reader | None) -> None:
        self.cache = PageCache(server.config.page_cache_bytes)
        self.app = app
        self.server = server
        self.prefix = f"/{server.config.api_root}/collections/"
        self.reader = reader
        if reader is not None:
            server.on_aclose.append(reader.aclose)
        self._redirects = (f"/{server.config.api_root}", "/taxii2")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            # HEAD is GET without the body (RFC 9110 §9.3.2), for every GET endpoint.
            scope = {**scope, "method": "GET"}
            send = _headers_only(send)
        if scope["type"] == "http":
            path: str = scope["path"]
            hot = path.startswith(self.prefix) and path.endswith("/objects/")
            if hot and scope["method"] == "GET" and self.reader is not None:
                cid = path[len(self.prefix) : -len("/objects/")]
                if "/" not in cid and await self._lean(scope, send, cid):
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

    async def _lean(self, scope: Scope, send: Send, cid: str) -> bool:
        """Whether the lean path answered; a fault of its own leaves the request to the app,
        which answers it or reports the error as a TAXII error resource."""
        try:
            return await self._objects(scope, send, cid)
        except Exception as exc:  # the app's error handlers are behind this layer
            log.error("lean read path: %s: %s; the app answers", type(exc).__name__, exc)
            return False

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
        hit = self.cache.get(key)
        if hit is not None:  # one small query: is the collection still as it was?
            version = await reader.version(cid)
            if version is None:
                return False
            if version == hit[0]:
                await _respond(send, hit[1], hit[2])
                return True
            self.cache.drop(key)
        params = dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True))
        cfg = server.config
        try:
            flt = parse_filters(params, allowed=ALL_FILTERS)
            limit = parse_limit(params, cfg.default_page_size, cfg.max_page_size)
            after = decode_cursor(params["next"])[0] if "next" in params else None
        except QueryError:
            return False
        page = await reader.page(cid, flt, limit, after, cfg.max_page_bytes)
        if page is None:
            return False
        headers = [(b"content-type", TAXII_MEDIA.encode())]
        if page.bodies:
            headers += [
                (b"x-taxii-date-added-first", format_us(page.first_added).encode()),
                (b"x-taxii-date-added-last", format_us(page.last_added).encode()),
            ]
        if page.more and page.bodies:
            last_id = page.last_id.decode("utf-8", "replace")
            cursor = encode_cursor((page.last_added, last_id))
            head = b'{"more":true,"next":"' + cursor.encode() + b'","objects":['
        else:
            head = b'{"more":false,"objects":['
        body = head + b",".join(page.bodies) + b"]}"
        headers.append((b"content-length", str(len(body)).encode()))
        if page.version is not None:
            self.cache.put(key, page.version, body, headers)
        await _respond(send, body, headers)
        return True


async def _respond(send: Send, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _headers_only(send: Send) -> Send:
    """``send`` that passes the response's status and headers (Content-Length included) and
    drops its body."""

    async def head(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return head
