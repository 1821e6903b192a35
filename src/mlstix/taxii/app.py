"""The TAXII 2.1 server as a FastAPI application (OASIS TAXII 2.1, §4 and §5).

:func:`create_app` opens the store, creates the two collections of the API root — the read-only
"ML Cloud Security Knowledge Base", filled with the compiled knowledge base at every start
(idempotently), and the writable "Findings" — stores the users of the configuration, and returns
the app. Endpoints: discovery ``/taxii2/``, the API root ``/<root>/``, status, collections,
collection, objects (GET, POST), object (GET, DELETE), versions and manifest, with the filters of
§3.4 and stateless pagination (:mod:`mlstix.taxii._query`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from mlstix.taxii._faults import DamagedObject, damaged_object, http_fault, startup_error
from mlstix.taxii._http import TaxiiError, check_accept, error_response
from mlstix.taxii._query import QueryError
from mlstix.taxii._time import now_us
from mlstix.taxii.auth import (
    Authenticator,
    LoginLimiter,
    LoginThrottled,
    Principal,
    save_config_users,
)
from mlstix.taxii.config import FINDINGS_COLLECTION_ID, KB_COLLECTION_ID, ServerConfig
from mlstix.taxii.store import CollectionInfo, Store
from mlstix.taxii.validate import validate_all

__all__ = ["KB_TITLE", "create_app"]

KB_TITLE = "ML Cloud Security Knowledge Base"
FINDINGS_TITLE = "Findings"
KbLoader = Callable[[], list[dict[str, Any]]]


def _default_kb() -> list[dict[str, Any]]:
    from mlstix.taxii.kbcontent import kb_objects

    return kb_objects()


class Server:
    """What the endpoints share: settings, store, authenticator."""

    prune_every = 60.0  # seconds between two prunings of old statuses, per process

    def __init__(self, config: ServerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        anonymous = {KB_COLLECTION_ID} if config.anonymous_kb_read else set()
        limiter = LoginLimiter(config.login_max_failures, float(config.login_window))
        self.auth = Authenticator(store.engine, anonymous, limiter)
        self._collections: dict[str, CollectionInfo] = {}
        self.on_close: list[Callable[[], None]] = []
        self.on_aclose: list[Callable[[], Awaitable[None]]] = []
        self._pruned = 0.0
        self._prune_lock = threading.Lock()
        self.refresh_collections()

    def refresh_collections(self) -> None:
        self._collections = {c.id: c for c in self.store.collections()}

    def cached_collection(self, cid: str) -> CollectionInfo | None:
        return self._collections.get(cid)

    def prune_statuses(self) -> None:
        """Delete statuses older than the retention, at most once a minute per process."""
        days = self.config.status_retention_days
        now = time.monotonic()
        if (
            not days
            or now - self._pruned < self.prune_every
            or not self._prune_lock.acquire(blocking=False)
        ):
            return
        try:
            self._pruned = now
            self.store.prune_statuses(now_us() - days * 86_400_000_000)
        finally:
            self._prune_lock.release()

    def principal(self, request: Request) -> Principal:
        """Who sent ``request``; blocks for a secret check: call it off the event loop."""
        address = request.client.host if request.client else None
        try:
            principal = self.auth.authenticate(request.headers.get("authorization"), address)
        except LoginThrottled as exc:
            raise TaxiiError(
                429,
                "Too Many Requests",
                f"too many failed logins for {exc.what}; retry in {exc.retry_after} s",
                {"Retry-After": str(exc.retry_after)},
            ) from None
        if principal is None:
            raise TaxiiError(
                401,
                "Unauthorized",
                "the credentials are not valid",
                {"WWW-Authenticate": 'Basic realm="mlstix TAXII", Bearer'},
            )
        return principal

    def collection(self, cid: str, who: Principal, *, write: bool = False) -> CollectionInfo:
        info = self._collections.get(cid)
        if info is None:
            self.refresh_collections()
            info = self._collections.get(cid)
        if info is None:
            raise TaxiiError(404, "Not Found", f"no collection {cid!r} in this API root")
        allowed = who.can_write(cid) and info.writable if write else who.can_read(cid)
        if allowed:
            return info
        if who.name is None:
            raise TaxiiError(
                401,
                "Unauthorized",
                "this collection needs authentication",
                {"WWW-Authenticate": 'Basic realm="mlstix TAXII", Bearer'},
            )
        if write and not info.writable:
            raise TaxiiError(403, "Forbidden", f"collection {info.title!r} is read-only")
        need = "write" if write else "read"
        raise TaxiiError(403, "Forbidden", f"user {who.name!r} may not {need} this collection")

    def collection_resource(self, info: CollectionInfo, who: Principal) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": info.id,
            "title": info.title,
            "description": info.description,
            "can_read": who.can_read(info.id),
            "can_write": who.can_write(info.id) and info.writable,
            "media_types": ["application/stix+json;version=2.1"],
        }
        if info.alias:
            body["alias"] = info.alias
        return body

    def load_kb(self, loader: KbLoader) -> None:
        valid, rejected = validate_all(loader(), full=False)
        if rejected:
            from mlstix.errors import KbDataError

            raise KbDataError([f"{oid}: {msg}" for oid, msg in rejected])
        new = self.store.missing(KB_COLLECTION_ID, valid)  # a restart writes nothing
        for start in range(0, len(new), 500):
            chunk = new[start : start + 500]
            self.store.add_objects(KB_COLLECTION_ID, chunk, [], "mlstix", record_status=False)


def _prepare(config: ServerConfig, store: Store, kb_loader: KbLoader | None) -> Server:
    """Collections, users and knowledge base as ``config`` says; writes only what changed."""
    store.ensure_collection(
        CollectionInfo(
            KB_COLLECTION_ID,
            KB_TITLE,
            "STIX 2.1 knowledge base of the security of machine-learning models in the cloud: "
            "attack patterns, vulnerabilities, courses of action, cloud guidance notes, "
            "relationships and mappings to MITRE ATLAS and ATT&CK. Read-only.",
            "kb",
            writable=False,
        )
    )
    store.ensure_collection(
        CollectionInfo(
            FINDINGS_COLLECTION_ID,
            FINDINGS_TITLE,
            "Findings of mlstix scanners and other producers, as STIX 2.1 objects.",
            "findings",
            writable=True,
        )
    )
    save_config_users(store.engine, config.users)
    server = Server(config, store)
    if config.load_kb:
        server.load_kb(kb_loader or _default_kb)
    return server


class _TaxiiApp(FastAPI):
    """FastAPI with the lean read path (:class:`mlstix.taxii._front.Front`) in front of it."""

    front: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)


def create_app(config: ServerConfig, *, kb_loader: KbLoader | None = None) -> FastAPI:
    """The app for ``config``; ``kb_loader`` replaces the packaged KB (tests, benchmarks)."""
    store = Store(config.db_url, max_status_details=config.max_status_details)
    try:
        server = _prepare(config, store, kb_loader)
    except DBAPIError as exc:
        store.close()
        raise startup_error(exc, config.db_url) from None
    except BaseException:
        store.close()
        raise

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        for aclose in server.on_aclose:
            await aclose()
        for close in server.on_close:
            close()
        store.close()

    docs = config.api_docs
    app = _TaxiiApp(
        title=config.title,
        version="2.1",
        description="TAXII 2.1 server of mlstix (OASIS TAXII Version 2.1).",
        lifespan=lifespan,
        dependencies=[Depends(check_accept)],
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        redirect_slashes=False,
    )
    app.state.server = server

    async def taxii_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TaxiiError)
        return error_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names the methods of the first route matched
            headers["Allow"] = _allowed(app, request)
        return error_response(TaxiiError(exc.status_code, str(exc.detail), headers=headers))

    async def query_error(_request: Request, exc: Exception) -> Response:
        return error_response(TaxiiError(400, "Bad Request", str(exc)))

    async def validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return error_response(TaxiiError(400, "Bad Request", where))

    async def storage_error(_request: Request, exc: Exception) -> Response:
        return error_response(http_fault(exc))

    async def damaged(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DamagedObject)
        return error_response(damaged_object(exc))

    async def unexpected(_request: Request, exc: Exception) -> Response:
        # Starlette logs the traceback; the client gets a TAXII error resource, not text.
        return error_response(TaxiiError(500, "Internal Server Error"))

    app.add_exception_handler(TaxiiError, taxii_error)
    app.add_exception_handler(DBAPIError, storage_error)
    app.add_exception_handler(DamagedObject, damaged)
    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(QueryError, query_error)
    app.add_exception_handler(RequestValidationError, validation_error)

    from mlstix.taxii._front import Front
    from mlstix.taxii._lean import reader_for
    from mlstix.taxii._routes import add_routes

    add_routes(app, server)
    # Outside FastAPI's own middleware: a page read from the lean path skips ~15 us of layers.
    app.front = Front(partial(FastAPI.__call__, app), server, reader_for(config.db_url))
    return app


def _allowed(app: FastAPI, request: Request) -> str:
    """Every method some route serves at the request's path (RFC 9110 §15.5.6)."""
    from starlette.routing import Match, Route

    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    if "GET" in methods:
        methods.add("HEAD")  # answered for every GET endpoint (mlstix.taxii._front)
    return ", ".join(sorted(methods))
