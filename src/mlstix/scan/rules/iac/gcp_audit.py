"""Data Access audit logs for Vertex AI (MLSTIX-GCP-AUD-001).

Data Access audit logs are off by default for every service but BigQuery (Cloud Audit Logs,
"Data Access audit logs"); they are turned on by ``auditConfigs`` in the IAM policy of the
project, or of a folder or organisation above it, which the project inherits. Configs for
``allServices`` and for a service add up ("the union of the two AuditConfigs is used"). Without
``DATA_READ`` and ``DATA_WRITE`` for ``aiplatform.googleapis.com``, predictions, model reads and
dataset writes leave no record.

- Live (``mlstix assess gcp``): the project's ``getIamPolicy`` ``auditConfigs``, on the
  ``cloudresourcemanager.googleapis.com/Project`` resource.
- Terraform: a module that declares Vertex AI resources (``google_vertex_ai_*``, Workbench
  ``google_workbench_instance``, ``google_notebooks_*``) is judged against the audit configs of
  the same module (``google_project_iam_audit_config``, ``for_each`` instances and ``dynamic``
  ``audit_log_config`` blocks expanded) and those of folders and organisations anywhere in the
  scan (``google_folder_iam_audit_config``, ``google_organization_iam_audit_config``), and the
  ``audit_config`` blocks of a ``data.google_iam_policy``. The finding sits on the module's
  audit config for the service when there is one, else on its first Vertex AI resource. A
  service or log type known only at apply time counts as enabling it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC"]

_PROJECT = "cloudresourcemanager.googleapis.com/Project"
_SERVICES = ("aiplatform.googleapis.com", "allServices")
_WANTED = frozenset({"DATA_READ", "DATA_WRITE"})
_PROJECT_CONFIG = "google_project_iam_audit_config"
_ABOVE = ("google_folder_iam_audit_config", "google_organization_iam_audit_config")
_VERTEX = ("google_vertex_ai_", "google_workbench_", "google_notebooks_")


def _live_types(configs: Any) -> set[str]:
    found: set[str] = set()
    for c in configs if isinstance(configs, list) else []:
        if not isinstance(c, Mapping) or c.get("service") not in _SERVICES:
            continue
        for entry in c.get("auditLogConfigs") or []:
            if isinstance(entry, Mapping) and entry.get("logType"):
                found.add(str(entry["logType"]))
    return found


def _types(service: Any, entries: Any, log_key: str) -> set[str] | None:
    """Log types a Terraform audit config turns on for Vertex AI (None: unknown)."""
    if is_unknown(service):
        return None
    if service not in _SERVICES:
        return set()
    if is_unknown(entries):
        return None
    found: set[str] = set()
    for e in as_list(entries):
        if is_unknown(e) or (isinstance(e, Mapping) and is_unknown(e.get(log_key))):
            return None
        if isinstance(e, Mapping) and e.get(log_key):
            found.add(str(e[log_key]))
    return found


def _policy_types(ctx: Context, scope: str) -> set[str] | None:
    found: set[str] = set()
    for doc in ctx.reads(scope, "terraform", "google_iam_policy"):
        for block in as_list(doc.attributes.get("audit_config")):
            if not isinstance(block, Mapping):
                continue
            got = _types(block.get("service"), block.get("audit_log_configs"), "log_type")
            if got is None:
                return None
            found |= got
    return found


def _project_data_access(ctx: Context) -> Iterator[Hit]:
    for p in ctx.of_type("terraform", _PROJECT):
        missing = sorted(_WANTED - _live_types(p.attributes.get("auditConfigs")))
        if missing:
            yield Hit(
                p,
                f"Data Access audit logs for aiplatform.googleapis.com lack {', '.join(missing)}",
                {"attribute": "auditConfigs", "value": missing},
            )


def _module_data_access(ctx: Context) -> Iterator[Hit]:
    vertex: dict[str, list[Resource]] = {}
    for r in ctx.resources:
        live = r.extra.get("live")  # a live project is judged on its own IAM policy
        if r.dialect == "terraform" and not live and r.type.startswith(_VERTEX):
            vertex.setdefault(r.scope, []).append(r)
    if not vertex:
        return
    inherited: set[str] | None = set()
    for config in ctx.of_type("terraform", *_ABOVE):
        attrs = config.attributes
        got = _types(attrs.get("service"), attrs.get("audit_log_config"), "log_type")
        inherited = None if got is None or inherited is None else inherited | got
    if inherited is None:
        return
    for scope, resources in sorted(vertex.items()):
        enabled, own = set(inherited), []
        policy = _policy_types(ctx, scope)
        if policy is None:
            continue
        enabled |= policy
        unknown = False
        for config in ctx.in_scope(scope, "terraform", _PROJECT_CONFIG):
            service = config.attributes.get("service")
            got = _types(service, config.attributes.get("audit_log_config"), "log_type")
            if got is None:
                unknown = True
                break
            enabled |= got
            if service in _SERVICES:
                own.append(config)
        missing = sorted(_WANTED - enabled)
        if unknown or not missing:
            continue
        own.sort(key=lambda c: (c.attributes.get("service") != _SERVICES[0], c.file, c.line))
        target = own[0] if own else min(resources, key=lambda r: (r.file, r.line))
        on = ", ".join(sorted(enabled & _WANTED)) or "neither"
        why = (
            f"audit config {target.address} turns on {on}"
            if own
            else "no audit config of the configuration (project, folder, organisation) covers "
            f"aiplatform.googleapis.com, used by {len(resources)} Vertex AI "
            f"resource{'s' if len(resources) > 1 else ''} of this module"
        )
        yield Hit(
            target,
            f"Data Access audit logs for aiplatform.googleapis.com lack {', '.join(missing)}: "
            f"{why}",
            {"attribute": "audit_log_config", "value": missing},
        )


def _data_access(ctx: Context) -> Iterator[Hit]:
    yield from _project_data_access(ctx)
    yield from _module_data_access(ctx)


LOGIC: dict[str, Logic] = {"gcp-aiplatform-data-access": _data_access}
