# mypy: disable-error-code="import-untyped"
"""The model assets behind Azure ML online deployments, for ``--scan-artifacts``.

A deployment names its model (``properties.model``, an ARM id of a model version, with or
without the ``azureml:`` prefix). The model version's ``modelUri`` is either a blob URL or
``azureml://subscriptions/.../workspaces/W/datastores/D/paths/P``, resolved through the
datastore (``accountName``, ``containerName``, ``endpoint``, ``protocol``; the ARM GET of a
datastore carries no secrets). Blobs under the path are listed (``List Blobs``, sizes summed
against the cap before a byte is read) and copied (``Get Blob``) with a Microsoft Entra token for
``https://storage.azure.com`` (the identity needs *Storage Blob Data Reader*), GET only. The
blob endpoint can be redirected, as Azure's tools and the Azurite emulator do, by the
``BlobEndpoint`` of ``AZURE_STORAGE_CONNECTION_STRING`` (path-style, loopback ``http`` allowed);
no key in it is used. Models in registries (``azureml://registries/...``) are noted, not read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from mlstix.assess._artifacts import Artifact, TooLarge
from mlstix.assess._inventory import Inventory
from mlstix.errors import MlstixError

__all__ = ["azure_artifacts"]

_DATASTORE = re.compile(
    r"(?i)^azureml://subscriptions/([^/]+)/resourcegroups/([^/]+)/workspaces/([^/]+)/"
    r"datastores/([^/]+)/paths/(.*)$"
)
_BLOB = re.compile(r"(?i)^(https?)://([a-z0-9]+)\.blob\.([a-z0-9.]+)/([^/]+)/?(.*)$")
_DEPLOYMENT = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
_MAX_BLOBS = 2_000
_CHUNK = 4 << 20


def _blob_base(account: str, endpoint: str, protocol: str) -> str:
    """The blob service URL of an account; ``BlobEndpoint`` of the connection string wins."""
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    for part in conn.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "blobendpoint" and value:
            return value.rstrip("/")
    return f"{protocol}://{account}.blob.{endpoint}"


class _Blobs:
    """GETs against the blob service with a bearer token for Azure Storage."""

    def __init__(self, credential: Any, base: str) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import (
            BearerTokenCredentialPolicy,
            HeadersPolicy,
            RetryPolicy,
        )

        url = urlparse(base)
        self.plain_ok = url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost", "::1")
        if url.scheme != "https" and not self.plain_ok:
            raise MlstixError(f"the blob endpoint must be https: {base}")
        self.client: Any = PipelineClient(
            base,
            policies=[
                HeadersPolicy({"x-ms-version": "2021-08-06"}),
                RetryPolicy(retry_total=4),
                BearerTokenCredentialPolicy(credential, "https://storage.azure.com/.default"),
            ],
        )

    def get(self, path: str, *, stream: bool = False) -> Any:
        from azure.core.rest import HttpRequest

        request = HttpRequest("GET", self.client.format_url(path))
        response = self.client.send_request(request, stream=stream, enforce_https=not self.plain_ok)
        if response.status_code >= 400:
            raise OSError(f"GET {path.split('?')[0]} answered {response.status_code}")
        return response

    def list(self, container: str, prefix: str) -> list[tuple[str, int]]:
        from defusedxml.ElementTree import fromstring

        out: list[tuple[str, int]] = []
        marker = ""
        while len(out) < _MAX_BLOBS:
            query = f"restype=container&comp=list&prefix={quote(prefix)}"
            if marker:
                query += f"&marker={quote(marker)}"
            # defusedxml: a List Blobs answer with a DTD or entities is refused, not expanded
            root = fromstring(self.get(f"/{container}?{query}").read())
            for blob in root.iter("Blob"):
                name = blob.findtext("Name") or ""
                size = int(blob.findtext("Properties/Content-Length") or 0)
                out.append((name, size))
            marker = root.findtext("NextMarker") or ""
            if not marker:
                break
        return out


def _safe(relative: str) -> Path | None:
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." or "\\" in p or "\0" in p for p in parts):
        return None
    return Path(*parts)


def _resolve(arm: Any, model_id: str) -> tuple[str, str, str] | None:
    """(blob base URL, container, path prefix) of a model version, or None (noted)."""
    from mlstix.assess.azure import API_VERSIONS

    version = API_VERSIONS["Microsoft.MachineLearningServices"]
    uri = str(((arm.get(model_id, version) or {}).get("properties") or {}).get("modelUri", ""))
    if m := _DATASTORE.match(uri):
        sub, rg, ws, store, path = m.groups()
        ds_id = (
            f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
            f"Microsoft.MachineLearningServices/workspaces/{ws}/datastores/{store}"
        )
        props = (arm.get(ds_id, version) or {}).get("properties") or {}
        if str(props.get("datastoreType")) != "AzureBlob":
            arm.inventory.note(f"{uri}: datastore type {props.get('datastoreType')} not read")
            return None
        base = _blob_base(
            str(props.get("accountName")),
            str(props.get("endpoint") or "core.windows.net"),
            str(props.get("protocol") or "https"),
        )
        return base, str(props.get("containerName")), path
    if m := _BLOB.match(uri):
        protocol, account, endpoint, container, path = m.groups()
        return _blob_base(account, endpoint, protocol), container, path
    arm.inventory.note(f"model {model_id}: modelUri {uri or '(none)'} is not read")
    return None


def _fetcher(arm: Any, model_id: str) -> Callable[[Path, int], None]:
    def fetch(target: Path, cap: int) -> None:
        from mlstix.assess.azure import _Failed

        try:
            where = _resolve(arm, model_id)
        except _Failed as exc:
            arm.inventory.error(
                f"azure:{model_id}", f"cannot resolve the model ({exc.status} {exc.code}): {exc}"
            )
            return
        if where is None:
            return
        base, container, path = where
        blobs = _Blobs(arm.credential, base)
        listed = blobs.list(container, path)
        total = sum(size for _, size in listed)
        if total > cap:
            raise TooLarge(f"{total} bytes is more than --max-artifact-size ({cap} bytes)")
        target.mkdir()
        for name, _size in listed:
            relative = _safe(name[len(path) :] if name.startswith(path) else name)
            if relative is None:
                relative = _safe(name.rsplit("/", 1)[-1])
            if relative is None:
                arm.inventory.note(f"blob {name!r} has an unsafe name; not read")
                continue
            dest = target / relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            response = blobs.get(f"/{container}/{quote(name)}", stream=True)
            written = 0
            with dest.open("wb") as fh:
                for chunk in response.iter_bytes(chunk_size=_CHUNK):
                    written += len(chunk)
                    if written > cap:
                        raise TooLarge(f"more than --max-artifact-size ({cap} bytes)")
                    fh.write(chunk)

    return fetch


def azure_artifacts(arm: Any, inventory: Inventory) -> list[Artifact]:
    """One :class:`Artifact` per model version deployed, served by its online endpoints."""
    served: dict[str, set[tuple[str, str]]] = {}
    for d in inventory.resources:
        if d.type.lower() != _DEPLOYMENT.lower():
            continue
        model = str((d.attributes.get("properties") or {}).get("model") or "")
        model = model.removeprefix("azureml:")
        if not model.lower().startswith("/subscriptions/"):
            if model:
                inventory.note(f"deployment {d.file}: model {model} is not read")
            continue
        endpoint = d.file.rsplit("/deployments/", 1)[0]
        served.setdefault(model, set()).add(
            (endpoint, f"Azure ML online endpoint {endpoint.rsplit('/', 1)[-1]}")
        )
    return [
        Artifact(f"azureml:{model}", _fetcher(arm, model), tuple(sorted(servers)))
        for model, servers in sorted(served.items())
    ]
