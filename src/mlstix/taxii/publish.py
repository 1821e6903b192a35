"""Publish STIX 2.1 objects to any TAXII 2.1 server (TAXII 2.1 §5.4 Add Objects, §4.3 Status).

:func:`publish_bundle` takes a STIX bundle (or a TAXII envelope, or a list of objects), finds the
API root from a discovery or API-root URL, finds the collection by id, alias or title, and posts
the objects in batches no larger than the server's ``max_content_length``, polling each status
resource until it is complete. The scan commands call it for ``--publish``; ``mlstix publish``
calls it for a file.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlstix.errors import MlstixError

__all__ = ["Credentials", "PublishError", "PublishResult", "objects_of", "publish_bundle"]

TAXII_MEDIA = "application/taxii+json;version=2.1"


class PublishError(MlstixError):
    """The objects could not be published (server unreachable, refused, not TAXII 2.1)."""

    hint = "check --to (a TAXII 2.1 discovery or API root URL), --collection and the credentials"


@dataclass(frozen=True)
class Credentials:
    """HTTP Basic (``user`` + ``password``) or an API key sent as a bearer token."""

    user: str | None = None
    password: str | None = None
    api_key: str | None = None


@dataclass(frozen=True)
class PublishResult:
    collection_url: str
    total: int
    succeeded: int
    failures: tuple[tuple[str, str], ...]  # (object id, message)
    status_ids: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures and self.succeeded == self.total


def objects_of(document: Any) -> list[dict[str, Any]]:
    """The objects of a bundle, an envelope, a list of objects or one object."""
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except (UnicodeDecodeError, ValueError) as exc:
            raise PublishError(f"not JSON: {exc}") from None
    if isinstance(document, list):
        items = document
    elif isinstance(document, Mapping) and isinstance(document.get("objects"), list):
        items = document["objects"]
    elif isinstance(document, Mapping) and isinstance(document.get("type"), str):
        items = [document]
    else:
        raise PublishError("not a STIX bundle, TAXII envelope or STIX object")
    if not all(isinstance(o, Mapping) for o in items):
        raise PublishError("every object of the bundle must be a JSON object")
    return [dict(o) for o in items]


def _describe(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and "title" in body:
        text = f"HTTP {response.status_code} {body['title']}"
        return f"{text}: {body['description']}" if body.get("description") else text
    return f"HTTP {response.status_code}"


def _trusting(cafile: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise PublishError(f"cannot use {cafile} as a CA certificate: {exc}") from None


class _Client:
    def __init__(
        self, auth: Credentials | None, timeout: float, verify: bool | str, transport: Any
    ):
        import httpx

        headers = {"Accept": TAXII_MEDIA}
        basic = None
        if auth is not None and auth.api_key:
            headers["Authorization"] = f"Bearer {auth.api_key}"
        elif auth is not None and auth.user is not None:
            basic = httpx.BasicAuth(auth.user, auth.password or "")
        tls: bool | ssl.SSLContext = verify if isinstance(verify, bool) else _trusting(verify)
        self.http = httpx.Client(
            headers=headers, auth=basic, timeout=timeout, verify=tls, transport=transport
        )
        self._errors: tuple[type[Exception], ...] = (httpx.HTTPError,)

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, url, **kwargs)
        except self._errors as exc:
            raise PublishError(f"{method} {url}: {exc}") from None
        if response.status_code >= 400:
            raise PublishError(f"{method} {url}: {_describe(response)}")
        try:
            return response.json()
        except ValueError:
            raise PublishError(f"{method} {url}: the answer is not JSON") from None


def _api_root(client: _Client, url: str) -> tuple[str, dict[str, Any]]:
    url = url if url.endswith("/") else url + "/"
    info = client.request("GET", url)
    if isinstance(info, dict) and "api_roots" in info:
        from urllib.parse import urljoin

        roots = info.get("api_roots") or []
        root = info.get("default") or (roots[0] if roots else None)
        if not isinstance(root, str):
            raise PublishError(f"{url} lists no API root")
        url = urljoin(url, root)
        url = url if url.endswith("/") else url + "/"
        info = client.request("GET", url)
    if not isinstance(info, dict) or "versions" not in info:
        raise PublishError(f"{url} is neither a TAXII 2.1 discovery nor an API root")
    if TAXII_MEDIA not in info.get("versions", []):
        raise PublishError(f"{url} does not speak TAXII 2.1 (versions: {info.get('versions')})")
    return url, info


def _collection(client: _Client, root: str, wanted: str) -> dict[str, Any]:
    listing = client.request("GET", root + "collections/")
    found = listing.get("collections", []) if isinstance(listing, dict) else []
    for coll in found:
        names = {coll.get("id"), coll.get("alias"), str(coll.get("title", "")).lower()}
        if wanted in names or wanted.lower() in names:
            if not coll.get("can_write"):
                raise PublishError(f"collection {coll.get('title')!r} is not writable for you")
            return dict(coll)
    known = ", ".join(f"{c.get('id')} ({c.get('title')})" for c in found) or "none"
    raise PublishError(f"no collection {wanted!r} at {root}; visible: {known}")


def _batches(
    objects: list[dict[str, Any]], batch_size: int, max_bytes: int
) -> Iterator[tuple[list[str], list[dict[str, Any]] | None]]:
    """(serialized objects, None) batches; an object too large alone comes as ([text], obj)."""
    budget = max(1024, max_bytes - 64)
    batch: list[str] = []
    size = 0
    for obj in objects:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        length = len(text.encode("utf-8")) + 1
        if length > budget:
            yield [text], [obj]
            continue
        if batch and (len(batch) >= batch_size or size + length > budget):
            yield batch, None
            batch, size = [], 0
        batch.append(text)
        size += length
    if batch:
        yield batch, None


def publish_bundle(
    bundle_json: str | bytes | Mapping[str, Any] | list[Any],
    url: str,
    collection: str,
    auth: Credentials | None = None,
    *,
    batch_size: int = 500,
    timeout: float = 60.0,
    poll_interval: float = 0.5,
    verify: bool | str = True,
    transport: Any = None,
) -> PublishResult:
    """Post every object of ``bundle_json`` to ``collection`` at ``url`` and wait for the
    status of each batch. Objects the server rejects are in ``failures``; a server that cannot
    be reached or refuses the request raises :class:`PublishError`. ``verify`` is as for httpx:
    ``False``, or the path of a CA bundle to trust (a server with a self-signed certificate)."""
    objects = objects_of(bundle_json)
    client = _Client(auth, timeout, verify, transport)
    try:
        root, info = _api_root(client, url)
        coll = _collection(client, root, collection)
        objects_url = f"{root}collections/{coll['id']}/objects/"
        max_bytes = int(info.get("max_content_length") or 10 * 1024 * 1024)
        succeeded = 0
        failures: list[tuple[str, str]] = []
        status_ids: list[str] = []
        for texts, too_large in _batches(objects, batch_size, max_bytes):
            if too_large is not None:
                oid = str(too_large[0].get("id", ""))
                failures.append((oid, f"larger than the server's limit of {max_bytes} bytes"))
                continue
            body = ('{"objects":[' + ",".join(texts) + "]}").encode("utf-8")
            status = client.request(
                "POST", objects_url, content=body, headers={"Content-Type": TAXII_MEDIA}
            )
            status = _wait(client, root, status, timeout, poll_interval)
            status_ids.append(str(status.get("id")))
            succeeded += int(status.get("success_count", 0))
            for item in status.get("failures") or []:
                failures.append((str(item.get("id", "")), str(item.get("message", ""))))
            for item in status.get("pendings") or []:
                failures.append((str(item.get("id", "")), "still pending when we stopped"))
        return PublishResult(
            objects_url, len(objects), succeeded, tuple(failures), tuple(status_ids)
        )
    finally:
        client.http.close()


def _wait(
    client: _Client, root: str, status: Any, timeout: float, interval: float
) -> dict[str, Any]:
    if not isinstance(status, dict) or "id" not in status:
        raise PublishError("the server answered the POST without a TAXII status resource")
    deadline = time.monotonic() + timeout
    while status.get("status") != "complete" and time.monotonic() < deadline:
        time.sleep(interval)
        status = client.request("GET", f"{root}status/{status['id']}/")
    return dict(status)
