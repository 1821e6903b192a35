"""Logic of the Azure live-only rules (metadata in ``assess/rules/azure.yaml``).

- ``azureml-diagnostic-settings``: a workspace with no diagnostic setting that sends at least
  one enabled log category (or category group) to a destination (Log Analytics workspace,
  storage account, event hub or partner solution); Azure Monitor keeps resource logs only when a
  diagnostic setting routes them (Azure Monitor, "Diagnostic settings in Azure Monitor").

Compute SSH exposure and registry network access are IaC rules
(:mod:`mlstix.scan.rules.iac.azure_compute`): a live ARM resource is the resource a template
declares, so one rule judges both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from mlstix.scan.rules.iac import Context, Hit, RuleRegistry

__all__ = ["register"]

_WORKSPACE = "Microsoft.MachineLearningServices/workspaces"
_DESTINATIONS = (
    "workspaceId",
    "storageAccountId",
    "eventHubAuthorizationRuleId",
    "marketplacePartnerId",
)


def _routes_logs(props: Mapping[str, object]) -> bool:
    logs = props.get("logs")
    enabled = isinstance(logs, list) and any(
        isinstance(entry, Mapping) and entry.get("enabled") is True for entry in logs
    )
    return enabled and any(props.get(d) for d in _DESTINATIONS)


def _diagnostics(ctx: Context) -> Iterator[Hit]:
    routed: set[str] = set()
    for d in ctx.of_type("arm", "Microsoft.Insights/diagnosticSettings"):
        props = d.attributes.get("properties")
        if isinstance(props, Mapping) and _routes_logs(props):
            routed.add(d.file.lower().split("/providers/microsoft.insights/")[0])
    for ws in ctx.of_type("arm", _WORKSPACE):
        if ws.extra.get("live") and ws.file.lower() not in routed:
            yield Hit(
                ws,
                "no diagnostic setting sends the workspace's resource logs anywhere",
                {"attribute": "diagnosticSettings", "value": None},
            )


def register(registry: RuleRegistry) -> None:
    registry.logic_function("azureml-diagnostic-settings")(_diagnostics)
