"""What a live collector gathered: resources in the IaC shape, errors, notes; saved as a snapshot.

A collector turns API responses into :class:`~mlstix.scan.iac.resource.Resource` values of the
dialect whose rules already understand that shape (AWS API shapes are CloudFormation property
shapes, Azure REST responses are ARM resources, live Kubernetes objects are manifests). Each live
resource's ``file`` is its real identifier (ARN, Azure resource id, GCP full resource name,
Kubernetes ``ns/kind/name`` under the cluster), and ``extra`` carries ``region`` and ``account``.

A snapshot (``--snapshot-out DIR``) is this inventory as JSON (``DIR/snapshot.json``), so
``mlstix assess snapshot DIR`` can judge it later with newer rules, offline. Secrets never enter
it: API responses hold no credentials, and values of environment maps and hyperparameters whose
names look secret are redacted at collection (:func:`plain`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlstix import __version__
from mlstix._io import prepare_out_dir, write_atomic
from mlstix.errors import MlstixError
from mlstix.findings.model import ScanError
from mlstix.scan.iac.resource import Language, Resource

__all__ = [
    "SNAPSHOT_FILE",
    "Inventory",
    "SnapshotError",
    "live_resource",
    "load_snapshot",
    "plain",
    "save_snapshot",
]

SNAPSHOT_FILE = "snapshot.json"
_FORMAT = "mlstix-assess-snapshot"
_MAX_SNAPSHOT = 512 * 1024 * 1024
_SECRET_KEY = re.compile(
    r"(?i)(secret|passw|token|api[-_]?key|credential|private[-_]?key|auth|(^|[-_])key$"
    r"|conn(ection)?[-_]?str|(^|[-_])sas([-_]|$))"
)
_REDACTED = "<redacted by mlstix>"


class SnapshotError(MlstixError):
    """A snapshot folder that cannot be read."""

    hint = "pass a folder written by `mlstix assess ... --snapshot-out DIR`"


@dataclass
class Inventory:
    """Everything one assessment collected. ``target`` names what was read (account, cluster)."""

    cloud: Literal["aws", "azure", "gcp", "kubernetes"]
    target: str
    regions: tuple[str, ...] = ()
    resources: list[Resource] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    collected_at: str = ""
    calls: int = 0  # API calls made, for the benchmark
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, resource: Resource) -> None:
        with self._lock:
            self.resources.append(resource)

    def error(self, where: str, message: str) -> None:
        with self._lock:
            self.errors.append(ScanError(where, message))

    def note(self, text: str) -> None:
        with self._lock:
            if text not in self.notes:
                self.notes.append(text)

    def count_call(self) -> None:
        with self._lock:
            self.calls += 1


def plain(value: Any, depth: int = 0, secret: bool = False) -> Any:
    """A JSON-ready copy of an API response: datetimes as ISO 8601, bytes as base64, response
    metadata dropped, and the values under secret-looking names in ``Environment``/
    ``HyperParameters`` maps redacted."""
    if depth > 64:
        return None
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        # a Kubernetes env entry {name: API_TOKEN, value: ...}
        named = value.get("name")
        hide_value = secret and isinstance(named, str) and bool(_SECRET_KEY.search(named))
        for k, v in value.items():
            if hide_value and k == "value" and isinstance(v, str):
                out[k] = _REDACTED
                continue
            key = str(k)
            if key == "ResponseMetadata":
                continue
            if secret and _SECRET_KEY.search(key) and isinstance(v, str | int | float):
                out[key] = _REDACTED
                continue
            inner_secret = key in ("Environment", "HyperParameters", "env", "environmentVariables")
            out[key] = plain(v, depth + 1, inner_secret)
        return out
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1, secret) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def live_resource(
    *,
    provider: str,
    type: str,
    name: str,
    ident: str,
    attributes: Mapping[str, Any],
    language: Language,
    account: str,
    region: str = "",
    address: str = "",
    namespace: str | None = None,
    scope: str = "",
) -> Resource:
    """A :class:`Resource` for a live object: ``file`` is its real identifier; all resources of
    one account share one scope, so references resolve across regions."""
    extra: dict[str, Any] = {"region": region, "account": account, "live": True}
    if address:
        extra["address"] = address
    if namespace is not None:
        extra["namespace"] = namespace
    return Resource(
        provider=provider,
        type=type,
        name=name,
        attributes=plain(attributes),
        file=ident,
        line=0,
        language=language,
        scope=scope or f"live:{provider}:{account}",
        extra=extra,
    )


# ---- snapshots -------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ResourceIn(_Strict):
    provider: str
    type: str
    name: str
    id: str
    language: Literal["cloudformation", "arm", "kubernetes", "terraform"]
    account: str
    region: str = ""
    address: str = ""
    namespace: str | None = None
    scope: str = ""
    attributes: dict[str, Any]


class _ErrorIn(_Strict):
    path: str
    message: str


class _SnapshotIn(_Strict):
    format: Literal["mlstix-assess-snapshot"]
    version: Literal[1]
    tool: dict[str, str]
    cloud: Literal["aws", "azure", "gcp", "kubernetes"]
    target: str
    regions: list[str] = Field(default_factory=list)
    collected_at: str = ""
    resources: list[_ResourceIn]
    errors: list[_ErrorIn] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _resource_out(r: Resource) -> dict[str, Any]:
    return {
        "provider": r.provider,
        "type": r.type,
        "name": r.name,
        "id": r.file,
        "language": r.language,
        "account": r.extra.get("account", ""),
        "region": r.extra.get("region", ""),
        "address": r.extra.get("address", ""),
        "namespace": r.extra.get("namespace"),
        "scope": r.scope,
        "attributes": r.attributes,
    }


def save_snapshot(inventory: Inventory, folder: Path) -> Path:
    """Write ``folder/snapshot.json`` atomically; make ``folder`` if missing."""
    prepare_out_dir(folder)
    doc = {
        "format": _FORMAT,
        "version": 1,
        "tool": {"name": "mlstix", "version": __version__},
        "cloud": inventory.cloud,
        "target": inventory.target,
        "regions": list(inventory.regions),
        "collected_at": inventory.collected_at,
        "resources": [
            _resource_out(r) for r in sorted(inventory.resources, key=lambda r: (r.type, r.file))
        ],
        "errors": [
            e.to_json() for e in sorted(inventory.errors, key=lambda e: (e.path, e.message))
        ],
        "notes": sorted(inventory.notes),
    }
    path = folder / SNAPSHOT_FILE
    write_atomic(path, json.dumps(doc, indent=1, sort_keys=True).encode("utf-8") + b"\n")
    return path


def load_snapshot(folder: Path) -> Inventory:
    """Read a snapshot folder written by :func:`save_snapshot`; errors name the file and field."""
    path = folder / SNAPSHOT_FILE if folder.is_dir() else folder
    try:
        size = path.stat().st_size
        if size > _MAX_SNAPSHOT:
            raise SnapshotError(f"{path}: {size} bytes is more than the {_MAX_SNAPSHOT} allowed")
        raw = json.loads(path.read_bytes())
        snap = _SnapshotIn.model_validate(raw)
    except FileNotFoundError:
        raise SnapshotError(f"no snapshot at {path}") from None
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise SnapshotError(f"{path}: invalid snapshot at {where}: {first['msg']}") from None
        raise SnapshotError(f"{path}: not a JSON snapshot ({exc})") from None
    inv = Inventory(
        cloud=snap.cloud,
        target=snap.target,
        regions=tuple(snap.regions),
        errors=[ScanError(e.path, e.message) for e in snap.errors],
        notes=list(snap.notes),
        collected_at=snap.collected_at,
    )
    for r in snap.resources:
        inv.add(
            live_resource(
                provider=r.provider,
                type=r.type,
                name=r.name,
                ident=r.id,
                attributes=r.attributes,
                language=r.language,
                account=r.account,
                region=r.region,
                address=r.address,
                namespace=r.namespace,
                scope=r.scope,
            )
        )
    return inv
