# mypy: disable-error-code="import-untyped"
"""The model artifacts behind Vertex AI models, for ``--scan-artifacts``.

A Vertex AI model names its artifacts with ``artifactUri``, a Cloud Storage folder
(``gs://bucket/path``) holding ``model.joblib``, ``model.pkl``, ``model.bst``, a SavedModel, ...
(Vertex AI, "Model requirements for prebuilt containers"). The folder is listed
(``objects.list``, sizes summed and refused above the cap before a byte is read) and each object
copied with ``objects.get?alt=media`` in chunks into a private folder, names kept inside it.
Endpoints serve models through ``deployedModels[].model``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlstix.assess._artifacts import Artifact, TooLarge
from mlstix.assess._inventory import Inventory

__all__ = ["vertex_artifacts"]

_GS = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])/?(.*)$")
_MAX_OBJECTS = 2_000
_CHUNK = 8 << 20


def _safe(relative: str) -> Path | None:
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." or "\\" in p or "\0" in p for p in parts):
        return None
    return Path(*parts)


def _fetcher(g: Any, uri: str) -> Callable[[Path, int], None]:
    from googleapiclient.http import MediaIoBaseDownload

    m = _GS.match(uri)
    assert m is not None
    bucket, prefix = m.group(1), m.group(2).strip("/")
    prefix = f"{prefix}/" if prefix else ""

    def fetch(target: Path, cap: int) -> None:
        api = g.service("storage", "v1")
        objects = list(
            g.pages(api.objects(), "items", limit=_MAX_OBJECTS, bucket=bucket, prefix=prefix)
        )
        total = sum(int(o.get("size", 0)) for o in objects)
        if total > cap:
            raise TooLarge(f"{total} bytes is more than --max-artifact-size ({cap} bytes)")
        target.mkdir()
        for o in objects:
            relative = _safe(str(o.get("name", ""))[len(prefix) :])
            if relative is None:
                g.inventory.note(f"{uri}: object {o.get('name')!r} has an unsafe name; not read")
                continue
            dest = target / relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            request = api.objects().get_media(bucket=bucket, object=o["name"])
            if request.method != "GET":
                raise RuntimeError("object download must be a GET")
            with dest.open("wb") as fh:
                down = MediaIoBaseDownload(fh, request, chunksize=_CHUNK)
                done = False
                while not done:
                    g.inventory.count_call()
                    _, done = down.next_chunk(num_retries=3)
                    if fh.tell() > cap:
                        raise TooLarge(f"more than --max-artifact-size ({cap} bytes)")

    return fetch


def vertex_artifacts(g: Any, inventory: Inventory) -> list[Artifact]:
    """One :class:`Artifact` per model ``artifactUri``, served by the endpoints deploying it."""
    models = {
        str(r.attributes.get("name")): r
        for r in inventory.resources
        if r.type == "aiplatform.googleapis.com/Model"
    }
    served: dict[str, list[tuple[str, str]]] = {}
    for ep in inventory.resources:
        if ep.type != "aiplatform.googleapis.com/Endpoint":
            continue
        for dm in ep.attributes.get("deployedModels") or []:
            model = models.get(str((dm or {}).get("model")))
            if model is not None:
                served.setdefault(model.file, []).append(
                    (ep.file, f"Vertex AI endpoint {ep.attributes.get('displayName') or ep.name}")
                )
    out = []
    for _name, model in sorted(models.items()):
        uri = model.attributes.get("artifactUri")
        if not isinstance(uri, str) or not _GS.match(uri):
            continue
        servers = served.get(model.file)
        if not servers:
            continue  # not deployed: production does not serve it
        out.append(Artifact(uri, _fetcher(g, uri), tuple(sorted(set(servers)))))
    return out
