"""The TAXII 2.1 server as a FastAPI application (OASIS TAXII 2.1, §4 and §5).

:func:`create_app` opens the store, creates the two collections of the API root — the read-only
"ML Cloud Security Knowledge Base", filled with the compiled knowledge base at every start
(idempotently), and the writable "Findings" — stores the users of the configuration, and returns
the app. Endpoints: discovery ``/taxii2/``, the API root ``/<root>/``, status, collections,
collection, objects (GET, POST), object (GET, DELETE), versions and manifest, with the filters of
§3.4 and stateless pagination (:mod:`mlstix.taxii._query`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from mlstix.taxii._http import TaxiiError, check_accept, error_response
from mlstix.taxii._query import QueryError
from mlstix.taxii.auth import Authenticator, Principal, save_config_users
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

    def __init__(self, config: ServerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        anonymous = {KB_COLLECTION_ID} if config.anonymous_kb_read else set()
        self.auth = Authenticator(store.engine, anonymous)
        self._collections: dict[str, CollectionInfo] = {}
        self.refresh_collections()

    def refresh_collections(self) -> None:
        self._collections = {c.id: c for c in self.store.collections()}

    def principal(self, request: Request) -> Principal:
        principal = self.auth.authenticate(request.headers.get("authorization"))
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
        for start in range(0, len(valid), 500):
            self.store.add_objects(KB_COLLECTION_ID, valid[start : start + 500], [], "mlstix")


def create_app(config: ServerConfig, *, kb_loader: KbLoader | None = None) -> FastAPI:
    """The app for ``config``; ``kb_loader`` replaces the packaged KB (tests, benchmarks)."""
    store = Store(config.db_url)
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

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title=config.title,
        version="2.1",
        description="TAXII 2.1 server of mlstix (OASIS TAXII Version 2.1).",
        lifespan=lifespan,
        dependencies=[Depends(check_accept)],
    )
    app.state.server = server

    async def taxii_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TaxiiError)
        return error_response(exc)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(
            TaxiiError(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
        )

    async def query_error(_request: Request, exc: Exception) -> Response:
        return error_response(TaxiiError(400, "Bad Request", str(exc)))

    async def validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return error_response(TaxiiError(400, "Bad Request", where))

    app.add_exception_handler(TaxiiError, taxii_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(QueryError, query_error)
    app.add_exception_handler(RequestValidationError, validation_error)

    from mlstix.taxii._routes import add_routes

    add_routes(app, server)
    return app
