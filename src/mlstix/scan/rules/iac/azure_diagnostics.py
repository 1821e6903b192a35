"""Azure Machine Learning workspaces whose resource logs go nowhere (MLSTIX-AZ-DIAG-001).

Azure Monitor keeps a resource's logs only when a diagnostic setting routes them: at least one
enabled log category or category group (``allLogs``, ``audit``) sent to a Log Analytics
workspace, a storage account, an event hub or a partner solution (Azure Monitor, "Diagnostic
settings in Azure Monitor"; REST ``Microsoft.Insights/diagnosticSettings`` 2021-05-01-preview:
``properties.logs[].enabled``, ``workspaceId``, ``storageAccountId``,
``eventHubAuthorizationRuleId``, ``marketplacePartnerId``).

A setting is tied to its workspace as each language writes it:

- ARM (and Bicep, compiled to ARM): an extension resource ``Microsoft.Insights/diagnosticSettings``
  whose ``scope`` names the workspace, or the older child form
  ``Microsoft.MachineLearningServices/workspaces/providers/diagnosticSettings`` named
  ``<workspace>/Microsoft.Insights/<setting>``;
- Terraform: ``azurerm_monitor_diagnostic_setting`` whose ``target_resource_id`` refers to an
  ``azurerm_machine_learning_workspace`` (or azapi workspace), with ``enabled_log`` blocks
  (``category`` or ``category_group``; azurerm 3's ``log`` blocks, ``enabled`` default true) and
  ``log_analytics_workspace_id``, ``storage_account_id``, ``eventhub_authorization_rule_id`` or
  ``partner_solution_id``, in any file of the module; or an ``azapi_resource`` of that type whose
  ``parent_id`` is the workspace;
- live (``mlstix assess azure``): the workspace's own ``.../providers/Microsoft.Insights/
  diagnosticSettings`` list.

A setting whose destination or logs are unknown at plan time counts as routing them, and one
attached to something unknown (a parameter without a default, a variable) that names none of
the configuration's workspaces counts for each of them: unknown is never reported. A workspace
whose name is a template expression is named by a setting that uses the same expression. Settings
an Azure Policy ``DeployIfNotExists`` assignment creates are not in a template: such estates
show the setting live.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac._refs import refers_to
from mlstix.scan.rules.iac.azure import arm_like
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC"]

_WORKSPACE = "Microsoft.MachineLearningServices/workspaces"
_SETTING = "Microsoft.Insights/diagnosticSettings"
_CHILD = f"{_WORKSPACE}/providers/diagnosticSettings"
_DESTINATIONS = (
    "workspaceId",
    "storageAccountId",
    "eventHubAuthorizationRuleId",
    "marketplacePartnerId",
)
_TF_DESTINATIONS = (
    "log_analytics_workspace_id",
    "storage_account_id",
    "eventhub_authorization_rule_id",
    "partner_solution_id",
)


def _set(value: Any) -> bool:
    return is_unknown(value) or value not in (None, "", [])


def _routes(props: Mapping[str, Any] | None) -> bool:
    """ARM properties route some enabled log category (unknown counts as routing)."""
    if props is None or is_unknown(props):
        return True
    logs = props.get("logs")
    if is_unknown(logs):
        enabled = True
    else:
        enabled = any(
            isinstance(e, Mapping) and (is_unknown(e.get("enabled")) or norm(e.get("enabled")))
            for e in as_list(logs)
        )
    return enabled and any(_set(props.get(d)) for d in _DESTINATIONS)


def _tf_routes(setting: Resource) -> bool:
    attrs = setting.attributes
    logs = [e for e in as_list(attrs.get("enabled_log")) if isinstance(e, Mapping)]
    logs += [
        e
        for e in as_list(attrs.get("log"))
        if isinstance(e, Mapping)
        and (e.get("enabled") is None or is_unknown(e.get("enabled")) or norm(e.get("enabled")))
    ]
    unknown_logs = is_unknown(attrs.get("enabled_log")) or is_unknown(attrs.get("log"))
    return (bool(logs) or unknown_logs) and any(_set(attrs.get(d)) for d in _TF_DESTINATIONS)


def _short(r: Resource) -> str:
    return r.name.rsplit("/", 1)[-1]


def _links(ctx: Context, scope: str) -> list[Any]:
    """What each routing diagnostic setting of a template or module is attached to: the ARM
    ``scope``, the azapi ``parent_id``, the Terraform ``target_resource_id``, or the workspace
    name of the ``providers/diagnosticSettings`` child forms."""
    links: list[Any] = []
    for d, props in arm_like(ctx, _SETTING):
        link = d.attributes.get("parent_id" if d.dialect == "terraform" else "scope")
        if d.scope == scope and not d.extra.get("live") and link is not None and _routes(props):
            links.append(link)
    for d in ctx.in_scope(scope, "arm", _CHILD):
        if _routes(d.attributes.get("properties")):
            links.append(("child", d.name.split("/", 1)[0]))
    for d in ctx.in_scope(scope, "terraform", "azurerm_monitor_diagnostic_setting"):
        if _tf_routes(d):
            links.append(d.attributes.get("target_resource_id"))
    return links


def _names(link: Any, ws: Resource) -> bool:
    """The link names this workspace: by reference or literal name, by the child form's first
    segment, or by the same template expression when the name is not known."""
    if isinstance(link, tuple):
        return bool(link[1] == _short(ws))
    if refers_to(link, ws):
        return True
    name = _short(ws)
    if is_unknown(ws.name) and name.startswith("[") and name.endswith("]"):
        inner = name[1:-1].strip()  # [parameters('ws')] inside [resourceId(..., parameters('ws'))]
        return bool(inner) and isinstance(link, str) and inner in link
    return False


def _routed(ctx: Context, ws: Resource, workspaces: list[Resource]) -> bool:
    """Some diagnostic setting of the configuration (or the live subscription) routes the
    workspace's logs, or may: a setting attached to something the configuration leaves unknown
    (a parameter without a default, a variable) that names none of its workspaces counts."""
    if ws.extra.get("live"):
        own = ws.file.lower()
        return any(
            d.extra.get("live")
            and d.file.lower().split("/providers/microsoft.insights/")[0] == own
            and _routes(props)
            for d, props in arm_like(ctx, _SETTING)
        )
    siblings = [w for w in workspaces if w.scope == ws.scope]
    for link in _links(ctx, ws.scope):
        if _names(link, ws):
            return True
        unknown = is_unknown(link) or (isinstance(link, str) and "${" in link)
        if unknown and not any(_names(link, w) for w in siblings):
            return True
    return False


def _workspaces(ctx: Context) -> Iterator[Resource]:
    for ws, _props in arm_like(ctx, _WORKSPACE):
        yield ws
    yield from ctx.of_type("terraform", "azurerm_machine_learning_workspace")


def _diagnostics(ctx: Context) -> Iterator[Hit]:
    workspaces = list(_workspaces(ctx))
    for ws in workspaces:
        if _routed(ctx, ws, workspaces):
            continue
        where = "" if ws.extra.get("live") else " of the configuration"
        yield Hit(
            ws,
            f"no diagnostic setting{where} sends the workspace's resource logs anywhere",
            {"attribute": "diagnosticSettings", "value": None},
        )


LOGIC: dict[str, Logic] = {"azureml-diagnostic-settings": _diagnostics}
