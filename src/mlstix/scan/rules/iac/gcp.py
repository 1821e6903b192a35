"""Python rules for Google Cloud: GCS buckets that hold models.

A bucket holds models when a Vertex AI / Workbench / notebook resource of the same module refers
to it, or its name or labels say so. Provider defaults (google_storage_bucket):
``uniform_bucket_level_access`` false, no ``versioning`` block = disabled, no retention policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._refs import iter_strings, refers_to
from mlstix.scan.rules.iac.aws import ML_NAME
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC"]

_ML_PREFIXES = ("google_vertex_ai_", "google_notebooks_", "google_workbench_", "google_ml_")


def model_buckets(ctx: Context) -> list[Resource]:
    if "gcs-model-buckets" not in ctx.memo:
        ctx.memo["gcs-model-buckets"] = list(_model_buckets(ctx))
    found: list[Resource] = ctx.memo["gcs-model-buckets"]
    return found


def _model_buckets(ctx: Context) -> Iterator[Resource]:
    buckets = ctx.of_type("terraform", "google_storage_bucket")
    if not buckets:
        return
    ml: dict[str, list[Resource]] = {}
    for r in ctx.resources:
        if r.dialect == "terraform" and r.type.startswith(_ML_PREFIXES):
            ml.setdefault(r.scope, []).append(r)
    for b in buckets:
        labels = " ".join(iter_strings(b.attributes.get("labels") or {}))
        label = f"{b.name} {b.attributes.get('name', '')} {labels}"
        if ML_NAME.search(label) or any(refers_to(r.attributes, b) for r in ml.get(b.scope, ())):
            yield b


def _flag(path: str, detail: str) -> Logic:
    def logic(ctx: Context) -> Iterator[Hit]:
        for b in model_buckets(ctx):
            value = lookup(b.attributes, path)
            if is_unknown(value) or norm(value) is True:
                continue
            yield Hit(
                b,
                f"{path} is {value if value is not None else 'not set'}; {detail}",
                {"attribute": path, "value": value, "provider_default": value is None},
            )

    return logic


# The Compute Engine default service account, in every form the provider accepts: the email with
# a literal or interpolated project number ("${data.google_project.p.number}-compute@..."), the
# google_compute_default_service_account data source's email, and the Compute API's "default".
_DEFAULT_SA = re.compile(r"(?i)-compute@developer\.gserviceaccount\.com\s*\}?$")
_DEFAULT_SA_REF = re.compile(r"data\.google_compute_default_service_account\.[\w-]+(\[[^\]]*\])?\.")


def default_compute_sa(value: Any) -> bool | None:
    """True when ``value`` is the default compute service account, None when not known."""
    if value is None:
        return True  # unset: the instance runs as the default account
    if not isinstance(value, str):
        return None
    text = str(value).strip()
    if _DEFAULT_SA.search(text) or _DEFAULT_SA_REF.search(text) or text.lower() == "default":
        return True
    return None if is_unknown(value) else False


_WORKBENCH = (
    ("google_notebooks_instance", "service_account"),
    ("google_workbench_instance", "gce_setup.service_accounts.email"),
)


def _default_sa(ctx: Context) -> Iterator[Hit]:
    for rtype, path in _WORKBENCH:
        for r in ctx.of_type("terraform", rtype):
            if rtype == "google_workbench_instance" and is_unknown(r.attributes.get("gce_setup")):
                continue
            value = lookup(r.attributes, path)
            if default_compute_sa(value) is not True:
                continue
            shown = (
                "not set (the Compute Engine default service account)"
                if value is None
                else (f"{value} (the Compute Engine default service account)")
            )
            yield Hit(
                r,
                f"{path} is {shown}: Editor on the project unless its grants were removed",
                {
                    "attribute": path,
                    "value": None if value is None else str(value),
                    "provider_default": value is None,
                },
            )


def _retention(ctx: Context) -> Iterator[Hit]:
    for b in model_buckets(ctx):
        period = lookup(b.attributes, "retention_policy.retention_period")
        if period is None:
            yield Hit(
                b,
                "no retention_policy: objects can be deleted or replaced at any time",
                {"attribute": "retention_policy", "value": None, "provider_default": True},
            )


LOGIC: dict[str, Logic] = {
    "gcs-uniform-access": (_flag("uniform_bucket_level_access", "expected true (default false)")),
    "gcs-versioning": (_flag("versioning.enabled", "expected true (default: disabled)")),
    "gcs-retention": _retention,
    "gcp-default-compute-sa": _default_sa,
}
