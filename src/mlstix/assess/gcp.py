# mypy: disable-error-code="import-untyped"
"""``mlstix assess gcp``: Vertex AI and the Cloud Storage buckets behind it, as Google's APIs
return them.

The Google API client (``google-api-python-client``, its bundled discovery documents) with
application-default credentials (``google.auth.default``: ``GOOGLE_APPLICATION_CREDENTIALS``,
the gcloud ADC file, the metadata server), read-only scope ``cloud-platform.read-only``. Endpoint
overrides follow gcloud's ``api_endpoint_overrides`` convention, as environment variables
``CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM``, ``..._NOTEBOOKS``, ``..._STORAGE`` (with its
``storage/v1/`` path) and ``..._CLOUDRESOURCEMANAGER``.

Read, per project and ``--location``: Vertex AI endpoints (``aiplatform.googleapis.com/v1``),
models, datasets, featurestores, metadata stores, tensorboards, index endpoints, recent custom
and pipeline jobs; Workbench instances (``notebooks.googleapis.com/v2``, every zone); the
buckets those reference plus ML-named ones (``storage/v1``); the project IAM policy's
``auditConfigs`` (``projects.getIamPolicy``, a read sent as POST); the Cloud KMS keys those
name (``cloudkms/v1``, :mod:`._gcp_keys`). Nothing else is sent: a
wrapper refuses any method but GET and ``getIamPolicy``.

Resources are stored under their Cloud Asset Inventory type names (``aiplatform.googleapis.com/
Endpoint``) with the API's own fields; :func:`terraform_view` gives the IaC rules the Terraform
attribute names (``encryptionSpec.kmsKeyName`` → ``encryption_spec.kms_key_name``; a bucket's
``iamConfiguration.uniformBucketLevelAccess.enabled`` → ``uniform_bucket_level_access``).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlstix.assess._artifacts import Artifact
from mlstix.assess._gcp_artifacts import vertex_artifacts
from mlstix.assess._gcp_auth import GcpCredentialsError, default_credentials
from mlstix.assess._gcp_auth import reason as auth_reason
from mlstix.assess._gcp_keys import KEY_ASSET, key_names, read_keys
from mlstix.assess._inventory import Inventory, live_resource
from mlstix.assess._names import check_gcp
from mlstix.assess._pool import run as _run
from mlstix.errors import MlstixError
from mlstix.scan.iac.resource import Resource

__all__ = ["GcpCredentialsError", "GcpOptions", "collect_gcp", "terraform_view"]

_GS = re.compile(r"gs://([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(/|$)")
# Vertex AI collection -> (Cloud Asset type, Terraform type or "" when none)
_VERTEX = {
    "endpoints": ("aiplatform.googleapis.com/Endpoint", "google_vertex_ai_endpoint"),
    "models": ("aiplatform.googleapis.com/Model", ""),
    "datasets": ("aiplatform.googleapis.com/Dataset", "google_vertex_ai_dataset"),
    "featurestores": ("aiplatform.googleapis.com/Featurestore", "google_vertex_ai_featurestore"),
    "metadataStores": (
        "aiplatform.googleapis.com/MetadataStore",
        "google_vertex_ai_metadata_store",
    ),
    "tensorboards": ("aiplatform.googleapis.com/Tensorboard", "google_vertex_ai_tensorboard"),
    "indexEndpoints": (
        "aiplatform.googleapis.com/IndexEndpoint",
        "google_vertex_ai_index_endpoint",
    ),
    "customJobs": ("aiplatform.googleapis.com/CustomJob", ""),
    "pipelineJobs": ("aiplatform.googleapis.com/PipelineJob", ""),
}
_JOBS = {"customJobs", "pipelineJobs"}
_WORKBENCH = ("notebooks.googleapis.com/Instance", "google_workbench_instance")
_BUCKET = ("storage.googleapis.com/Bucket", "google_storage_bucket")
_PROJECT = ("cloudresourcemanager.googleapis.com/Project", "")
_JOB_LIMIT = 50


@dataclass(frozen=True)
class GcpOptions:
    project: str
    locations: tuple[str, ...] = ("us-central1",)
    jobs: int = 8
    credentials: Any = None  # google.auth credentials; default: application-default credentials


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _snaked(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_snake(str(k)): _snaked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snaked(v) for v in value]
    return value


def _bucket_view(b: Mapping[str, Any]) -> dict[str, Any]:
    """A storage/v1 bucket in the attribute names of Terraform's google_storage_bucket."""
    iam = b.get("iamConfiguration") or {}
    out: dict[str, Any] = {
        "name": b.get("name"),
        "location": b.get("location"),
        "labels": b.get("labels") or {},
        "uniform_bucket_level_access": bool(
            (iam.get("uniformBucketLevelAccess") or {}).get("enabled")
        ),
        "public_access_prevention": iam.get("publicAccessPrevention", "inherited"),
        "versioning": {"enabled": bool((b.get("versioning") or {}).get("enabled"))},
    }
    retention = b.get("retentionPolicy")
    if isinstance(retention, Mapping) and retention.get("retentionPeriod") is not None:
        out["retention_policy"] = {
            "retention_period": int(retention["retentionPeriod"]),
            "is_locked": bool(retention.get("isLocked")),
        }
    if (b.get("encryption") or {}).get("defaultKmsKeyName"):
        out["encryption"] = {"default_kms_key_name": b["encryption"]["defaultKmsKeyName"]}
    return out


def terraform_view(r: Resource) -> Resource | None:
    """The resource as the Terraform rules read it, or None when no Terraform type matches."""
    import dataclasses

    assets = (*_VERTEX.values(), _WORKBENCH, _BUCKET, KEY_ASSET)
    tf = {asset: tf for asset, tf in assets if tf}.get(r.type)
    if not tf:
        return None
    attrs = _bucket_view(r.attributes) if tf == _BUCKET[1] else _snaked(r.attributes)
    extra = {**r.extra, "address": r.extra.get("address") or f"{r.type} {r.name}"}
    return dataclasses.replace(r, type=tf, attributes=attrs, extra=extra)


def _env_endpoint(api: str) -> str | None:
    value = os.environ.get(f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api.upper()}")
    return value or None


class _Google:
    """Discovery clients per (api, location); requests are checked, counted and bounded."""

    def __init__(self, options: GcpOptions, inventory: Inventory) -> None:
        import googleapiclient.discovery  # noqa: F401 - first, so a missing extra is named

        self.options = options
        self.inventory = inventory
        self.credentials = options.credentials or default_credentials()
        self._clients: dict[tuple[str, str], Any] = {}
        import threading

        self._lock = threading.Lock()
        # the first call (the project's IAM policy) is tried twice, not with five back-offs,
        # so an unreachable endpoint is said in seconds
        self.retries = 1

    def service(self, api: str, version: str, location: str = "") -> Any:
        from googleapiclient.discovery import build

        key = (api, location)
        with self._lock:
            if key not in self._clients:
                endpoint = _env_endpoint(api)
                if endpoint is None and api == "aiplatform" and location:
                    endpoint = f"https://{location}-aiplatform.googleapis.com/"
                options = {"api_endpoint": endpoint} if endpoint else None
                self._clients[key] = build(
                    api,
                    version,
                    credentials=self.credentials,
                    static_discovery=True,
                    client_options=options,
                    cache_discovery=False,
                )
            return self._clients[key]

    def execute(self, request: Any) -> Any:
        from google.auth.exceptions import GoogleAuthError, RefreshError
        from httplib2 import HttpLib2Error

        method = str(getattr(request, "method", ""))
        method_id = str(getattr(request, "methodId", ""))
        if method != "GET" and not method_id.endswith(".getIamPolicy"):
            raise MlstixError(f"refused to send {method} {method_id}: the assessment only reads")
        self.inventory.count_call()
        try:
            return request.execute(num_retries=self.retries)
        except RefreshError as exc:
            raise GcpCredentialsError(
                f"Google rejected the application-default credentials: {auth_reason(exc)}"
            ) from None
        except GoogleAuthError as exc:
            raise GcpCredentialsError(f"Google credentials failed: {auth_reason(exc)}") from None
        except (HttpLib2Error, OSError) as exc:
            raise GcpCredentialsError(
                f"cannot reach the Google APIs: {type(exc).__name__}"
            ) from None

    def pages(self, collection: Any, key: str, limit: int = 10_000, **params: Any) -> Iterator[Any]:
        request = collection.list(**params)
        seen = 0
        while request is not None:
            body = self.execute(request)
            for item in body.get(key) or []:
                yield item
                seen += 1
                if seen >= limit:
                    return
            request = collection.list_next(request, body)

    def guarded(
        self, what: str, permission: str, fn: Callable[[], None], *, missing_ok: bool = False
    ) -> None:
        from googleapiclient.errors import HttpError

        try:
            fn()
        except HttpError as exc:
            status = int(getattr(exc.resp, "status", 0) or 0)
            reason = _line(exc.reason if hasattr(exc, "reason") else exc)
            where = f"gcp://{self.options.project}/{what}"
            if not _google_error(exc.content):
                raise MlstixError(
                    f"{getattr(exc, 'uri', 'the endpoint').split('?')[0]} did not answer as a "
                    f"Google API does (HTTP {status}, no JSON error body)",
                    hint="check the network, or CLOUDSDK_API_ENDPOINT_OVERRIDES_* if you set them",
                ) from None
            if status == 403 and ("has not been used" in reason or "is disabled" in reason):
                self.inventory.note(f"{what}: the API is not enabled in the project")
            elif status == 403:
                self.inventory.error(
                    where,
                    f"denied (403): grant {permission} (roles/aiplatform.viewer with "
                    "roles/iam.securityReviewer and roles/storage.objectViewer; docs/assess.md)",
                )
            elif status == 404 and missing_ok:
                self.inventory.note(f"{what} is referenced but does not exist (404)")
            elif status == 401:
                raise GcpCredentialsError("Google rejected the credentials (401)") from None
            else:
                self.inventory.error(where, f"failed ({status}): {reason}")


def _google_error(content: Any) -> bool:
    """The body of a failed call is a Google API error (``{"error": {...}}``, AIP-193)."""
    import json

    try:
        body = json.loads(content)
    except (TypeError, ValueError):
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def _line(exc: Any) -> str:
    return " ".join(str(exc).split())[:200]


def _add(g: _Google, asset_type: str, body: Mapping[str, Any], region: str) -> None:
    name = str(body.get("name") or body.get("id") or "")
    full = (
        name
        if name.startswith("//")
        else (
            f"//storage.googleapis.com/projects/_/buckets/{name}"
            if asset_type == _BUCKET[0]
            else f"//{asset_type.split('/')[0]}/{name}"
        )
    )
    g.inventory.add(
        live_resource(
            provider="gcp",
            type=asset_type,
            name=name.rsplit("/", 1)[-1],
            ident=full,
            attributes=body,
            language="terraform",
            account=g.options.project,
            region=region,
            address=f"{asset_type} {name}",
        )
    )


def _vertex(g: _Google, location: str) -> None:
    api = g.service("aiplatform", "v1", location)
    parent = f"projects/{g.options.project}/locations/{location}"
    locations = api.projects().locations()
    for collection, (asset, _tf) in _VERTEX.items():
        limit = _JOB_LIMIT if collection in _JOBS else 10_000

        def read(collection: str = collection, asset: str = asset, limit: int = limit) -> None:
            # the list response holds the items under the collection's own name
            resource = getattr(locations, collection)()
            for item in g.pages(resource, collection, limit=limit, parent=parent):
                _add(g, asset, item, location)

        g.guarded(f"{location}/{collection}", f"aiplatform.{collection}.list", read)


def _workbench(g: _Google) -> None:
    api = g.service("notebooks", "v2")
    instances = api.projects().locations().instances()

    def read() -> None:
        parent = f"projects/{g.options.project}/locations/-"
        for item in g.pages(instances, "instances", parent=parent):
            zone = str(item.get("name", "")).split("/locations/")[-1].split("/")[0]
            _add(g, _WORKBENCH[0], item, zone)

    g.guarded("notebooks/instances", "notebooks.instances.list", read)


def _audit(g: _Google) -> None:
    api = g.service("cloudresourcemanager", "v1")

    def read() -> None:
        policy = g.execute(
            api.projects().getIamPolicy(
                resource=g.options.project, body={"options": {"requestedPolicyVersion": 3}}
            )
        )
        attrs = {"projectId": g.options.project, "auditConfigs": policy.get("auditConfigs") or []}
        _add(g, _PROJECT[0], {**attrs, "name": f"projects/{g.options.project}"}, "global")

    g.guarded("iamPolicy", "resourcemanager.projects.getIamPolicy", read)


def _buckets(g: _Google) -> None:
    from mlstix.scan.rules.iac.aws import ML_NAME

    api = g.service("storage", "v1")
    names: set[str] = set()
    for r in list(g.inventory.resources):
        for key, text in _strings(r.attributes):
            if "schema" not in key.lower():  # Google's own schema files, not this project's
                names.update(m.group(1) for m in _GS.finditer(text))

    def listing() -> None:
        for b in g.pages(api.buckets(), "items", project=g.options.project):
            if ML_NAME.search(str(b.get("name", ""))):
                names.add(str(b["name"]))

    g.guarded("storage/buckets", "storage.buckets.list", listing)
    for name in sorted(names):

        def read(name: str = name) -> None:
            body = g.execute(api.buckets().get(bucket=name))
            _add(g, _BUCKET[0], body, str(body.get("location", "")).lower())

        g.guarded(f"storage/buckets/{name}", "storage.buckets.get", read, missing_ok=True)


def _strings(value: Any, key: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    if depth > 40:
        return
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, str(k), depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key, depth + 1)


def collect_gcp(options: GcpOptions) -> tuple[Inventory, list[Artifact]]:
    """Read the project's Vertex AI estate; raise :class:`GcpCredentialsError` when no
    credentials work. Also returns the model artifacts (fetched only if the caller asks)."""
    check_gcp(options.project, options.locations)
    inventory = Inventory(cloud="gcp", target=options.project, regions=options.locations)
    inventory.collected_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    g = _Google(options, inventory)
    _audit(g)  # first and alone: says whether the APIs can be reached at all
    g.retries = 5
    tasks: list[Callable[[], None]] = [
        functools.partial(_vertex, g, loc) for loc in options.locations
    ]
    tasks.append(functools.partial(_workbench, g))
    _run(tasks, options.jobs)
    _buckets(g)
    _keys(g)
    return inventory, vertex_artifacts(g, inventory)


def _keys(g: _Google) -> None:
    """The Cloud KMS keys the collected resources name (:mod:`._gcp_keys`)."""
    api = g.service("cloudkms", "v1")
    keys = api.projects().locations().keyRings().cryptoKeys()
    names = key_names(kv for r in list(g.inventory.resources) for kv in _strings(r.attributes))
    read_keys(
        names,
        lambda name: g.execute(keys.get(name=name)),
        lambda body, location: _add(g, KEY_ASSET[0], body, location),
        lambda name, fn: g.guarded(f"kms/{name}", "cloudkms.cryptoKeys.get", fn, missing_ok=True),
    )
