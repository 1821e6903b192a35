"""Logic of the Azure live-only rules (metadata in ``assess/rules/azure.yaml``).

- ``azureml-diagnostic-settings``: a workspace with no diagnostic setting that sends at least
  one enabled log category (or category group) to a destination (Log Analytics workspace,
  storage account, event hub or partner solution); Azure Monitor keeps resource logs only when a
  diagnostic setting routes them (Azure Monitor, "Diagnostic settings in Azure Monitor").
- ``azureml-compute-ssh-public``: a compute with a public IP (``enableNodePublicIp`` not false)
  whose SSH port is open: a compute instance with ``sshSettings.sshPublicAccess`` ``Enabled``
  (default ``Disabled``), a compute cluster with ``remoteLoginPortPublicAccess`` ``Enabled``, or
  ``NotSpecified`` without a subnet ("closed on all nodes of the cluster if VNet is defined, else
  open"; Microsoft.MachineLearningServices 2024-04-01, AmlComputeProperties and
  ComputeInstanceSshSettings).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup, norm
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


def _ssh_open(compute_type: Any, inner: Mapping[str, Any]) -> tuple[str, Any] | None:
    """(attribute, value) that leaves the SSH port open to public networks, or None."""
    if norm(compute_type) == "computeinstance":
        access = lookup(inner, "sshSettings.sshPublicAccess")
        if not is_unknown(access) and norm(access) == "enabled":
            return "sshSettings.sshPublicAccess", access
    elif norm(compute_type) == "amlcompute":
        access = inner.get("remoteLoginPortPublicAccess")
        if is_unknown(access):
            return None
        if norm(access) == "enabled":
            return "remoteLoginPortPublicAccess", access
        if norm(access or "NotSpecified") == "notspecified" and not lookup(inner, "subnet.id"):
            return "remoteLoginPortPublicAccess", access or "NotSpecified"
    return None


def _compute_ssh(ctx: Context) -> Iterator[Hit]:
    for c in ctx.of_type("arm", f"{_WORKSPACE}/computes"):
        props = c.attributes.get("properties")
        inner = props.get("properties") if isinstance(props, Mapping) else None
        if not isinstance(props, Mapping) or not isinstance(inner, Mapping):
            continue
        public_ip = inner.get("enableNodePublicIp")
        if is_unknown(public_ip) or norm(public_ip) is False:
            continue  # no public IP: the port is reachable only from the virtual network
        found = _ssh_open(props.get("computeType"), inner)
        if found is None:
            continue
        attribute, value = found
        note = " without a subnet" if norm(value) == "notspecified" else ""
        yield Hit(
            c,
            f"properties.{attribute} is {value}{note} on a {props.get('computeType')} with a "
            "public IP: its SSH port accepts connections from the internet unless a network "
            "security group blocks them",
            {"attribute": f"properties.properties.{attribute}", "value": str(value)},
        )


def register(registry: RuleRegistry) -> None:
    registry.logic_function("azureml-diagnostic-settings")(_diagnostics)
    registry.logic_function("azureml-compute-ssh-public")(_compute_ssh)
