"""HTTP details of TAXII 2.1: media types (§1.6.8), content negotiation, the error message
resource (§3.6.1) and the JSON responses.

Every response is ``application/taxii+json;version=2.1``. A request whose ``Accept`` admits no
TAXII 2.1 media type gets 406; a POST whose ``Content-Type`` is not the TAXII 2.1 media type gets
415. ``Accept`` may omit ``version`` (it then means the latest, 2.1), or be ``*/*``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = [
    "STIX_MEDIA",
    "TAXII_MEDIA",
    "TaxiiError",
    "TaxiiResponse",
    "accepts_taxii",
    "check_accept",
    "check_content_type",
    "error_response",
    "json_response",
    "parse_envelope",
    "read_body",
]

TAXII_MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"


class TaxiiResponse(JSONResponse):
    """JSON with the TAXII media type. Bytes are sent as they are (already serialized)."""

    media_type = TAXII_MEDIA

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return json.dumps(content, ensure_ascii=False).encode("utf-8")


class TaxiiError(Exception):
    """An HTTP error the server reports as a TAXII error message resource."""

    def __init__(
        self,
        status: int,
        title: str,
        description: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.description = description
        self.headers = headers or {}


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> TaxiiResponse:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return TaxiiResponse(text.encode("utf-8"), status_code=status, headers=headers)


def error_response(exc: TaxiiError) -> TaxiiResponse:
    body: dict[str, Any] = {"title": exc.title, "http_status": str(exc.status)}
    if exc.description:
        body["description"] = exc.description
    text = json.dumps(body)  # ASCII: a description may quote a lone surrogate
    return TaxiiResponse(text.encode("ascii"), status_code=exc.status, headers=exc.headers)


def _params(item: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in item.split(";")]
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return parts[0].lower(), params


def accepts_taxii(accept: str) -> bool:
    for item in accept.split(","):
        if not item.strip():
            continue
        media, params = _params(item)
        if params.get("q") in ("0", "0.0", "0.00", "0.000"):
            continue
        if media in ("*/*", "application/*"):
            return True
        if media == "application/taxii+json" and params.get("version", "2.1") == "2.1":
            return True
    return False


def check_accept(request: Request) -> None:
    accept = request.headers.get("accept")
    if accept is not None and accept.strip() and not accepts_taxii(accept):
        raise TaxiiError(
            406,
            "Not Acceptable",
            f"this server answers only {TAXII_MEDIA}; the request accepts {accept!r}",
        )


def check_content_type(request: Request) -> None:
    value = request.headers.get("content-type", "")
    media, params = _params(value)
    if media != "application/taxii+json" or params.get("version", "2.1") != "2.1":
        raise TaxiiError(
            415,
            "Unsupported Media Type",
            f"POST a TAXII envelope as {TAXII_MEDIA}; got Content-Type {value or 'none'!r}",
        )


async def read_body(request: Request, limit: int, timeout: float = 30.0) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading them all, and a
    body that takes more than ``timeout`` seconds to arrive (408)."""
    import anyio

    try:
        with anyio.fail_after(timeout):
            return await _read_body(request, limit)
    except TimeoutError:
        raise TaxiiError(
            408,
            "Request Timeout",
            f"the body did not arrive within {timeout:g} s",
            {"Connection": "close"},  # the rest of the body may still come: do not reuse
        ) from None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isascii() or not declared.isdigit()):
        raise TaxiiError(400, "Bad Request", "Content-Length is not a number")
    if declared is not None and (len(declared) > 18 or int(declared) > limit):
        raise TaxiiError(413, "Payload Too Large", f"the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TaxiiError(413, "Payload Too Large", f"the limit is {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


STRUCTURES_PER_OBJECT = 100  # JSON objects and arrays an envelope may hold per object allowed


def parse_envelope(body: bytes, max_objects: int) -> list[Any]:
    """The objects of a TAXII envelope (§3.7). Before parsing, the JSON objects and arrays are
    counted (an upper bound, from the bytes): parsing millions of tiny ones would take hundreds of
    megabytes, so a body with more than :data:`STRUCTURES_PER_OBJECT` per allowed object is
    refused unparsed."""
    structures = body.count(b"{") + body.count(b"[")
    if structures > max_objects * STRUCTURES_PER_OBJECT:
        raise TaxiiError(
            413,
            "Payload Too Large",
            f"the envelope holds up to {structures} JSON objects and arrays; this server takes "
            f"at most {max_objects} STIX objects per request",
        )
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise TaxiiError(400, "Bad Request", f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise TaxiiError(400, "Bad Request", "the body is nested too deeply") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
        raise TaxiiError(
            400, "Bad Request", 'the body must be a TAXII envelope: {"objects": [...]}'
        )
    objects: list[Any] = envelope["objects"]
    if len(objects) > max_objects:
        raise TaxiiError(
            413,
            "Payload Too Large",
            f"the envelope holds {len(objects)} objects; this server takes at most "
            f"{max_objects} per request",
        )
    return objects
