"""The endpoints of the TAXII 2.1 API root (§4.1–§4.3, §5.1–§5.9).

Reads are plain ``def`` handlers (FastAPI runs them in its thread pool); the POST handler reads
the body asynchronously with a size bound, then validates and stores in the thread pool. Object
bodies are stored as JSON text and spliced into the envelope without being parsed again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mlstix.taxii import _models as m
from mlstix.taxii._http import (
    STIX_MEDIA,
    TAXII_MEDIA,
    TaxiiError,
    TaxiiResponse,
    check_content_type,
    json_response,
    parse_envelope,
    read_body,
)
from mlstix.taxii._query import (
    ALL_FILTERS,
    decode_cursor,
    encode_cursor,
    parse_filters,
    parse_limit,
)
from mlstix.taxii._time import format_us
from mlstix.taxii.store import Filters, Page, StatusRecord, VersionFilter
from mlstix.taxii.validate import validate_all

__all__ = ["add_routes"]

if TYPE_CHECKING:
    from mlstix.taxii.app import Server
    from mlstix.taxii.config import ServerConfig

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": m.ErrorModel, "content": {TAXII_MEDIA: {}}, "description": text}
    for code, text in (
        (400, "Bad request"),
        (401, "Authentication needed"),
        (403, "Not permitted"),
        (404, "Not found"),
        (406, "Accept admits no TAXII 2.1 media type"),
    )
}
_POST_ERRORS = {
    **_ERRORS,
    413: {"model": m.ErrorModel, "description": "Body too large"},
    415: {"model": m.ErrorModel, "description": "Content-Type is not TAXII 2.1"},
}
_ENVELOPE_BODY = {
    "required": True,
    "content": {TAXII_MEDIA: {"schema": m.EnvelopeModel.model_json_schema()}},
}
_OBJECT_FILTERS = ALL_FILTERS
_ONE_OBJECT_FILTERS = frozenset(
    {"added_after", "limit", "next", "match[version]", "match[spec_version]"}
)
_VERSION_FILTERS = frozenset({"added_after", "limit", "next", "match[spec_version]"})
_DELETE_FILTERS = frozenset({"match[version]", "match[spec_version]"})


_PARAM_DOCS: dict[str, tuple[dict[str, Any], str]] = {
    "added_after": ({"type": "string"}, "only objects added after this STIX timestamp"),
    "limit": ({"type": "integer", "minimum": 1}, "page size (lowered to the server's maximum)"),
    "next": ({"type": "string"}, "cursor of the previous page"),
    "match[id]": ({"type": "string"}, "comma-separated object ids"),
    "match[type]": ({"type": "string"}, "comma-separated object types"),
    "match[version]": ({"type": "string"}, "first, last, all or STIX timestamps"),
    "match[spec_version]": ({"type": "string"}, "comma-separated STIX versions"),
}


def _params_doc(names: frozenset[str]) -> dict[str, Any]:
    """OpenAPI query parameters of an endpoint; handlers parse the raw query themselves."""
    params = [
        {"name": n, "in": "query", "required": False, "schema": schema, "description": text}
        for n, (schema, text) in _PARAM_DOCS.items()
        if n in names
    ]
    return {"parameters": params}


def _headers(page: Page) -> dict[str, str]:
    if not page.items:
        return {}
    return {
        "X-TAXII-Date-Added-First": format_us(page.items[0].date_added),
        "X-TAXII-Date-Added-Last": format_us(page.items[-1].date_added),
    }


def _paging(page: Page) -> str:
    key = page.last_key
    if page.more and key is not None:
        return f'"more":true,"next":"{encode_cursor(key)}"'
    return '"more":false'


def add_routes(app: FastAPI, server: Server) -> None:
    cfg = server.config
    root = f"/{cfg.api_root}"

    def page_of(request: Request, cid: str, flt: Filters, *, body: bool = True) -> Page:
        params = request.query_params
        limit = parse_limit(params, cfg.default_page_size, cfg.max_page_size)
        after = decode_cursor(params["next"]) if "next" in params else None
        cap = cfg.max_page_bytes if body else None
        return server.store.query(cid, flt, limit, after, with_body=body, max_bytes=cap)

    @app.get(
        "/taxii2/",
        response_model=m.DiscoveryModel,
        response_class=TaxiiResponse,
        responses=_ERRORS,
        tags=["discovery"],
    )
    def discovery(request: Request) -> Response:
        url = f"{_base_url(request, cfg)}{root}/"
        return json_response(
            {
                "title": cfg.title,
                "description": "mlstix: security of machine-learning models in the cloud.",
                "default": url,
                "api_roots": [url],
            }
        )

    @app.get(
        f"{root}/",
        response_model=m.ApiRootModel,
        response_class=TaxiiResponse,
        responses=_ERRORS,
        tags=["api root"],
    )
    def api_root() -> Response:
        return json_response(
            {
                "title": "mlstix",
                "description": "The mlstix knowledge base and the findings of its scanners.",
                "versions": [TAXII_MEDIA],
                "max_content_length": cfg.max_content_length,
            }
        )

    @app.get(
        f"{root}/status/{{status_id}}/",
        response_model=m.StatusModel,
        response_class=TaxiiResponse,
        responses=_ERRORS,
        tags=["status"],
    )
    def get_status(request: Request, status_id: str) -> Response:
        who = server.principal(request)
        record = server.store.status(status_id) if len(status_id) <= 64 else None
        visible = (
            record is not None
            and who.name is not None
            and (record.owner == who.name or who.can_write(record.collection_id))
        )
        if record is None or not visible:
            raise TaxiiError(404, "Not Found", f"no status {status_id!r} for this user")
        return json_response(record.resource())

    @app.get(
        f"{root}/collections/",
        response_model=m.CollectionsModel,
        response_class=TaxiiResponse,
        responses=_ERRORS,
        tags=["collections"],
    )
    def get_collections(request: Request) -> Response:
        who = server.principal(request)
        server.refresh_collections()
        visible = [
            server.collection_resource(c, who)
            for c in server.store.collections()
            if who.can_read(c.id) or who.can_write(c.id)
        ]
        return json_response({"collections": visible})

    @app.get(
        f"{root}/collections/{{collection_id}}/",
        response_model=m.CollectionModel,
        response_class=TaxiiResponse,
        responses=_ERRORS,
        tags=["collections"],
    )
    def get_collection(request: Request, collection_id: str) -> Response:
        who = server.principal(request)
        info = server.collection(collection_id, who)
        return json_response(server.collection_resource(info, who))

    @app.get(
        f"{root}/collections/{{collection_id}}/objects/",
        response_model=m.EnvelopeModel,
        response_class=TaxiiResponse,
        responses=_ERRORS,
        openapi_extra=_params_doc(_OBJECT_FILTERS),
        tags=["objects"],
    )
    def get_objects(request: Request, collection_id: str) -> Response:
        who = server.principal(request)
        server.collection(collection_id, who)
        flt = parse_filters(request.query_params, allowed=_OBJECT_FILTERS)
        page = page_of(request, collection_id, flt)
        body = f'{{{_paging(page)},"objects":[{",".join(o.body for o in page.items)}]}}'
        return json_response(body, headers=_headers(page))

    @app.post(
        f"{root}/collections/{{collection_id}}/objects/",
        response_model=m.StatusModel,
        response_class=TaxiiResponse,
        status_code=202,
        responses=_POST_ERRORS,
        tags=["objects"],
        openapi_extra={"requestBody": _ENVELOPE_BODY},
    )
    async def post_objects(request: Request, collection_id: str) -> Response:
        who = await run_in_threadpool(server.principal, request)  # scrypt: off the loop
        server.collection(collection_id, who, write=True)
        check_content_type(request)
        body = await read_body(request, cfg.max_content_length, cfg.body_timeout)
        raw = parse_envelope(body, cfg.max_objects_per_envelope)
        del body

        def work() -> StatusRecord:
            valid, rejected = validate_all(raw, full=cfg.full_validation)
            record = server.store.add_objects(collection_id, valid, rejected, who.name)
            server.prune_statuses()
            return record

        record = await run_in_threadpool(work)
        return json_response(record.resource(), status=202)

    @app.get(
        f"{root}/collections/{{collection_id}}/objects/{{object_id}}/",
        response_model=m.EnvelopeModel,
        response_class=TaxiiResponse,
        responses=_ERRORS,
        openapi_extra=_params_doc(_ONE_OBJECT_FILTERS),
        tags=["objects"],
    )
    def get_object(request: Request, collection_id: str, object_id: str) -> Response:
        who = server.principal(request)
        server.collection(collection_id, who)
        flt = parse_filters(request.query_params, allowed=_ONE_OBJECT_FILTERS)
        flt = Filters(
            ids=(object_id,),
            spec_versions=flt.spec_versions,
            versions=flt.versions,
            added_after=flt.added_after,
        )
        page = page_of(request, collection_id, flt)
        if not page.items and not _exists(server, collection_id, object_id):
            raise TaxiiError(404, "Not Found", f"no object {object_id!r} in this collection")
        body = f'{{{_paging(page)},"objects":[{",".join(o.body for o in page.items)}]}}'
        return json_response(body, headers=_headers(page))

    @app.delete(
        f"{root}/collections/{{collection_id}}/objects/{{object_id}}/",
        response_class=Response,
        responses={**_ERRORS, 200: {"description": "Deleted (no body)", "content": {}}},
        openapi_extra=_params_doc(_DELETE_FILTERS),
        tags=["objects"],
    )
    def delete_object(request: Request, collection_id: str, object_id: str) -> Response:
        who = server.principal(request)
        server.collection(collection_id, who, write=True)
        flt = parse_filters(request.query_params, allowed=_DELETE_FILTERS, version_default="all")
        if server.store.delete_object(collection_id, object_id, flt) == 0:
            raise TaxiiError(404, "Not Found", f"no object {object_id!r} matches")
        return Response(status_code=200)

    @app.get(
        f"{root}/collections/{{collection_id}}/objects/{{object_id}}/versions/",
        response_model=m.VersionsModel,
        response_class=TaxiiResponse,
        responses=_ERRORS,
        openapi_extra=_params_doc(_VERSION_FILTERS),
        tags=["objects"],
    )
    def get_versions(request: Request, collection_id: str, object_id: str) -> Response:
        who = server.principal(request)
        server.collection(collection_id, who)
        flt = parse_filters(request.query_params, allowed=_VERSION_FILTERS)
        flt = Filters(
            ids=(object_id,),
            spec_versions=flt.spec_versions,
            versions=VersionFilter(all=True),
            added_after=flt.added_after,
        )
        page = page_of(request, collection_id, flt, body=False)
        if not page.items and not _exists(server, collection_id, object_id):
            raise TaxiiError(404, "Not Found", f"no object {object_id!r} in this collection")
        versions = ",".join(f'"{o.version_text}"' for o in page.items)
        return json_response(f'{{{_paging(page)},"versions":[{versions}]}}', headers=_headers(page))

    @app.get(
        f"{root}/collections/{{collection_id}}/manifest/",
        response_model=m.ManifestModel,
        response_class=TaxiiResponse,
        responses=_ERRORS,
        openapi_extra=_params_doc(_OBJECT_FILTERS),
        tags=["objects"],
    )
    def get_manifest(request: Request, collection_id: str) -> Response:
        who = server.principal(request)
        server.collection(collection_id, who)
        flt = parse_filters(request.query_params, allowed=_OBJECT_FILTERS)
        page = page_of(request, collection_id, flt, body=False)
        records = [
            {
                "id": o.object_id,
                "date_added": format_us(o.date_added),
                "version": o.version_text,
                "media_type": STIX_MEDIA,
            }
            for o in page.items
        ]
        body: dict[str, Any] = {"more": page.more, "objects": records}
        key = page.last_key
        if page.more and key is not None:
            body["next"] = encode_cursor(key)
        return json_response(body, headers=_headers(page))


def _base_url(request: Request, cfg: ServerConfig) -> str:
    """``public_url``, else the address of the socket that took the request (never ``Host``)."""
    if cfg.public_url:
        return cfg.public_url.rstrip("/")
    server = request.scope.get("server")
    if not server:
        return cfg.base_url
    host, port = server[0], server[1]
    host = f"[{host}]" if ":" in str(host) else host
    return f"{request.scope.get('scheme', 'http')}://{host}:{port}"


def _exists(server: Server, cid: str, object_id: str) -> bool:
    flt = Filters(ids=(object_id,), versions=VersionFilter(all=True))
    return bool(server.store.query(cid, flt, 1, None, with_body=False).items)
