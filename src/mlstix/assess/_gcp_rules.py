"""Logic of the Google Cloud live-only rules (metadata in ``assess/rules/gcp.yaml``). Data Access
audit logs (MLSTIX-GCP-AUD-001) are an IaC rule judged live too
(:mod:`mlstix.scan.rules.iac.gcp_audit`).

- ``vertex-custom-job-cmek`` / ``vertex-custom-job-network``: a recent custom or pipeline job
  without ``encryptionSpec.kmsKeyName``, or that names no ``network`` (nor a Private Service
  Connect interface): it runs on a Google-managed network with internet egress (Vertex AI
  CustomJob and PipelineJob references).
- ``vertex-pipeline-default-sa``: a pipeline job with no ``serviceAccount`` (or the Compute
  Engine default one): "If not specified, the Compute Engine default service account in the
  project will be used" (PipelineJob reference), which has Editor unless its grants were removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.rules.iac import Context, Hit, RuleRegistry

__all__ = ["register"]

_CUSTOM = "aiplatform.googleapis.com/CustomJob"
_PIPELINE = "aiplatform.googleapis.com/PipelineJob"
_DEFAULT_SA = re.compile(r"(?i)^\d+-compute@developer\.gserviceaccount\.com$")


def _jobs(ctx: Context) -> Iterator[tuple[Any, Mapping[str, Any]]]:
    """Custom jobs with their ``jobSpec``; pipeline jobs carry the same fields at the top."""
    for job in ctx.of_type("terraform", _CUSTOM):
        spec = job.attributes.get("jobSpec")
        yield job, spec if isinstance(spec, Mapping) else {}
    for job in ctx.of_type("terraform", _PIPELINE):
        yield job, job.attributes


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
            path = "jobSpec.network" if job.type == _CUSTOM else "network"
            yield Hit(
                job,
                f"{path} is not set: the job runs with internet egress",
                {"attribute": path, "value": None},
            )


def _pipeline_sa(ctx: Context) -> Iterator[Hit]:
    for job in ctx.of_type("terraform", _PIPELINE):
        account = job.attributes.get("serviceAccount")
        if not account or _DEFAULT_SA.match(str(account)):
            shown = account or "not set (the Compute Engine default service account)"
            yield Hit(
                job,
                f"serviceAccount is {shown}: Editor on the project unless its grants were removed",
                {"attribute": "serviceAccount", "value": account},
            )


def register(registry: RuleRegistry) -> None:
    registry.logic_function("vertex-custom-job-cmek")(_cmek)
    registry.logic_function("vertex-custom-job-network")(_network)
    registry.logic_function("vertex-pipeline-default-sa")(_pipeline_sa)
