"""Azure ML computes whose SSH port is open to the internet (MLSTIX-AZ-CMP-001) and Azure ML
registries reachable from public networks (MLSTIX-AZ-REG-001), judged on ARM templates, Terraform
(azurerm, azapi) and, through ``mlstix assess azure``, the live ARM resources.

- A compute with a public IP (ARM ``enableNodePublicIp``, default true; azurerm
  ``node_public_ip_enabled``, default true) whose SSH port is open: a compute instance with
  ``sshSettings.sshPublicAccess`` ``Enabled`` (default ``Disabled``; azurerm sets ``Enabled``
  exactly when the instance has an ``ssh`` block), a compute cluster with
  ``remoteLoginPortPublicAccess`` ``Enabled``, or ``NotSpecified`` without a subnet ("closed on
  all nodes of the cluster if VNet is defined, else open"; Microsoft.MachineLearningServices
  2024-04-01, AmlComputeProperties and ComputeInstanceSshSettings). azurerm sends ``Enabled``
  exactly when ``ssh_public_access_enabled`` is true, else ``Disabled``
  (``azurerm_machine_learning_compute_cluster``).
- A registry (``Microsoft.MachineLearningServices/registries``; azurerm has no resource for it,
  azapi does) whose ``publicNetworkAccess`` is not ``Disabled`` (default ``Enabled``).

A value unknown at plan time decides nothing: the compute or registry is not reported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup, norm
from mlstix.scan.rules.iac.azure import arm_like
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC"]

_COMPUTES = "Microsoft.MachineLearningServices/workspaces/computes"
_REGISTRIES = "Microsoft.MachineLearningServices/registries"


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
        subnet = lookup(inner, "subnet.id")
        if norm(access or "NotSpecified") == "notspecified" and not subnet:
            return "remoteLoginPortPublicAccess", access or "NotSpecified"
    return None


def _arm_computes(ctx: Context) -> Iterator[Hit]:
    for c, props in arm_like(ctx, _COMPUTES):
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


def _azurerm_computes(ctx: Context) -> Iterator[Hit]:
    kinds = {
        "azurerm_machine_learning_compute_instance": "ssh",
        "azurerm_machine_learning_compute_cluster": "ssh_public_access_enabled",
    }
    for c in ctx.of_type("terraform", *kinds):
        public_ip = c.attributes.get("node_public_ip_enabled")
        if is_unknown(public_ip) or norm(public_ip) is False:
            continue
        attribute = kinds[c.type]
        value = c.attributes.get(attribute)
        if is_unknown(value):
            continue
        if attribute == "ssh":
            if not value:  # no ssh block: the provider sends sshPublicAccess Disabled
                continue
            shown = "an ssh block (the provider sends sshSettings.sshPublicAccess Enabled)"
        elif norm(value) is True:
            shown = "ssh_public_access_enabled = true (remoteLoginPortPublicAccess Enabled)"
        else:
            continue
        default = " (default true)" if public_ip is None else ""
        yield Hit(
            c,
            f"{shown} with node_public_ip_enabled{default}: its SSH port accepts connections "
            "from the internet unless a network security group blocks them",
            {"attribute": attribute, "value": "ssh block" if attribute == "ssh" else value},
        )


def _compute_ssh(ctx: Context) -> Iterator[Hit]:
    yield from _arm_computes(ctx)
    yield from _azurerm_computes(ctx)


def _registry_public(ctx: Context) -> Iterator[Hit]:
    for r, props in arm_like(ctx, _REGISTRIES):
        if props is None:
            continue  # the body is not known
        value = props.get("publicNetworkAccess")
        if is_unknown(value) or norm(value) == "disabled":
            continue
        shown = "Enabled (not set; default Enabled)" if value is None else str(value)
        yield Hit(
            r,
            f"properties.publicNetworkAccess is {shown}: the registry's models, environments "
            "and components are reachable from any network its callers' credentials work from",
            {
                "attribute": "properties.publicNetworkAccess",
                "value": "Enabled" if value is None else str(value),
                "provider_default": value is None,
            },
        )


LOGIC: dict[str, Logic] = {
    "azureml-compute-ssh-public": _compute_ssh,
    "azureml-registry-public": _registry_public,
}
