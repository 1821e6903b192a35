"""Logic of the Google Cloud live-only rules (metadata in ``assess/rules/gcp.yaml``).

- ``gcp-aiplatform-data-access``: the project IAM policy's ``auditConfigs`` enable neither
  ``DATA_READ`` nor ``DATA_WRITE`` Data Access audit logs for ``aiplatform.googleapis.com``
  (directly or through ``allServices``); they are off by default (Cloud Audit Logs, "Data Access
  audit logs"), so predictions and reads of models leave no record.
- ``vertex-custom-job-cmek`` / ``vertex-custom-job-network``: a recent custom job without
  ``encryptionSpec.kmsKeyName``, or whose ``jobSpec`` names no ``network`` (nor a Private Service
  Connect interface): it runs on a Google-managed network with internet egress (Vertex AI
  CustomJob reference).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.rules.iac import Context, Hit, RuleRegistry

__all__ = ["register"]

_PROJECT = "cloudresourcemanager.googleapis.com/Project"
_JOB = "aiplatform.googleapis.com/CustomJob"


def _log_types(configs: Any) -> set[str]:
    found: set[str] = set()
    for c in configs if isinstance(configs, list) else []:
        if not isinstance(c, Mapping):
            continue
        if c.get("service") not in ("aiplatform.googleapis.com", "allServices"):
            continue
        for entry in c.get("auditLogConfigs") or []:
            if isinstance(entry, Mapping) and entry.get("logType"):
                found.add(str(entry["logType"]))
    return found


def _data_access(ctx: Context) -> Iterator[Hit]:
    for p in ctx.of_type("terraform", _PROJECT):
        missing = sorted({"DATA_READ", "DATA_WRITE"} - _log_types(p.attributes.get("auditConfigs")))
        if missing:
            yield Hit(
                p,
                f"Data Access audit logs for aiplatform.googleapis.com lack {', '.join(missing)}",
                {"attribute": "auditConfigs", "value": missing},
            )


def _jobs(ctx: Context) -> Iterator[tuple[Any, Mapping[str, Any]]]:
    for job in ctx.of_type("terraform", _JOB):
        spec = job.attributes.get("jobSpec")
        yield job, spec if isinstance(spec, Mapping) else {}


def _cmek(ctx: Context) -> Iterator[Hit]:
    for job, _spec in _jobs(ctx):
        if not (job.attributes.get("encryptionSpec") or {}).get("kmsKeyName"):
            yield Hit(
                job,
                "encryptionSpec.kmsKeyName is not set (Google-managed key)",
                {"attribute": "encryptionSpec.kmsKeyName", "value": None},
            )


def _network(ctx: Context) -> Iterator[Hit]:
    for job, spec in _jobs(ctx):
        if not spec.get("network") and not spec.get("pscInterfaceConfig"):
            yield Hit(
                job,
                "jobSpec.network is not set: the job runs with internet egress",
                {"attribute": "jobSpec.network", "value": None},
            )


def register(registry: RuleRegistry) -> None:
    registry.logic_function("gcp-aiplatform-data-access")(_data_access)
    registry.logic_function("vertex-custom-job-cmek")(_cmek)
    registry.logic_function("vertex-custom-job-network")(_network)
