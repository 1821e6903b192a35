"""The model artifacts behind SageMaker models, for ``--scan-artifacts``.

A model's containers name their artifact as ``ModelDataUrl`` (a ``model.tar.gz`` in S3) or
``ModelDataSource.S3DataSource`` with ``S3DataType: S3Object`` (CreateModel API). The artifact is
copied read-only: ``ListObjectsV2`` gives its size (refused above the cap before a byte is read),
then ``GetObject`` streams it, stopping at the cap. Uncompressed prefixes (``S3Prefix``) are
noted, not read. Only deployed models count (an endpoint's configuration names them); a model
deployed from the registry (``ModelPackageName``) is followed to its package's containers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlstix.assess._artifacts import Artifact, TooLarge
from mlstix.assess._inventory import Inventory
from mlstix.assess.aws._client import AwsAccess

__all__ = ["model_artifacts"]

_CHUNK = 1 << 20


def _uris(model: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    containers = [model.get("PrimaryContainer"), *(model.get("Containers") or [])]
    for c in containers:
        if not isinstance(c, Mapping):
            continue
        if isinstance(c.get("ModelDataUrl"), str):
            out.append(c["ModelDataUrl"])
        src = (c.get("ModelDataSource") or {}).get("S3DataSource") or {}
        if isinstance(src.get("S3Uri"), str):
            out.append(src["S3Uri"] if src.get("S3DataType") != "S3Prefix" else src["S3Uri"] + "/")
    return out


def _package_uris(model: Mapping[str, Any], packages: Mapping[str, Any]) -> list[str]:
    """The artifacts of the model packages a model's containers deploy (registry models)."""
    out: list[str] = []
    for c in [model.get("PrimaryContainer"), *(model.get("Containers") or [])]:
        if isinstance(c, Mapping) and isinstance(c.get("ModelPackageName"), str):
            package = packages.get(c["ModelPackageName"]) or {}
            spec = package.get("InferenceSpecification") or {}
            out += _uris({"Containers": spec.get("Containers") or []})
    return out


def _fetcher(access: AwsAccess, region: str, uri: str) -> Any:
    bucket, _, key = uri[len("s3://") :].partition("/")

    def fetch(target: Path, cap: int) -> None:
        listing = access.call("s3", region, "ListObjectsV2", Bucket=bucket, Prefix=key, MaxKeys=1)
        if listing is None:
            return  # the failure is recorded in the report's errors
        objects = [o for o in listing.get("Contents") or [] if o.get("Key") == key]
        if not objects:
            access.inventory.error(uri, "the model artifact does not exist")
            return
        size = int(objects[0].get("Size", 0))
        if size > cap:
            raise TooLarge(f"{size} bytes is more than --max-artifact-size ({cap} bytes)")
        got = access.call("s3", region, "GetObject", Bucket=bucket, Key=key)
        if got is None:
            return
        body = got["Body"]
        written = 0
        with target.open("wb") as fh:
            while chunk := body.read(_CHUNK):
                written += len(chunk)
                if written > cap:
                    body.close()
                    fh.close()
                    target.unlink()
                    raise TooLarge(f"more than --max-artifact-size ({cap} bytes)")
                fh.write(chunk)

    return fetch


def model_artifacts(access: AwsAccess, inventory: Inventory) -> list[Artifact]:
    """One :class:`Artifact` per distinct S3 object behind a deployed model (its own containers'
    or, for a registry model, its model package's), served by the endpoints deploying it."""
    configs: dict[tuple[str, str], list[str]] = {}
    for c in inventory.resources:
        if c.type == "AWS::SageMaker::EndpointConfig":
            for v in c.attributes.get("ProductionVariants") or []:
                key = (str(c.extra.get("region")), str((v or {}).get("ModelName")))
                configs.setdefault(key, []).append(c.name)
    endpoints: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for e in inventory.resources:
        if e.type == "AWS::SageMaker::Endpoint":
            key = (str(e.extra.get("region")), str(e.attributes.get("EndpointConfigName")))
            endpoints.setdefault(key, []).append((e.file, f"{e.type} {e.name}"))
    packages = {
        p.file: p.attributes
        for p in inventory.resources
        if p.type == "AWS::SageMaker::ModelPackage"
    }
    served: dict[str, list[tuple[str, str]]] = {}
    regions: dict[str, str] = {}
    for m in inventory.resources:
        if m.type != "AWS::SageMaker::Model":
            continue
        region = str(m.extra.get("region"))
        servers = [
            ep
            for config in configs.get((region, m.name), [])
            for ep in endpoints.get((region, config), [])
        ]
        if not servers:
            continue  # not deployed: production does not serve it
        for uri in _uris(m.attributes) + _package_uris(m.attributes, packages):
            if uri.endswith("/"):
                inventory.note(f"{uri} is an S3 prefix (uncompressed model); not scanned")
                continue
            if uri.startswith("s3://"):
                served.setdefault(uri, [])
                served[uri] += [s for s in servers if s not in served[uri]]
                regions.setdefault(uri, region)
    return [
        Artifact(uri, _fetcher(access, regions[uri], uri), tuple(sorted(servers)))
        for uri, servers in sorted(served.items())
    ]
