"""Network isolation of Azure Machine Learning workspaces (MLSTIX-AZ-ML-004).

Azure Machine Learning documents two ways to isolate a workspace: a managed virtual network
(``managedNetwork.isolationMode`` ``AllowInternetOutbound`` or ``AllowOnlyApprovedOutbound``;
azurerm ``managed_network.isolation_mode``) and the older, still supported customer virtual
network, where the workspace is reached through a private endpoint in the customer's network
(Azure Private Link sub-resource ``amlworkspace``) and the computes sit in its subnets. Either
passes. The private endpoint is found as:

- ARM: a ``Microsoft.Network/privateEndpoints`` whose ``privateLinkServiceConnections`` (or
  ``manualPrivateLinkServiceConnections``) name the workspace in ``privateLinkServiceId`` with
  ``groupIds`` ``amlworkspace``; a live workspace (the ARM GET response) lists it in
  ``properties.privateEndpointConnections`` with ``privateLinkServiceConnectionState.status``
  ``Approved``;
- Terraform: an ``azurerm_private_endpoint`` whose ``private_service_connection`` has
  ``private_connection_resource_id`` referring to the workspace and ``subresource_names``
  ``amlworkspace``.

An endpoint whose target cannot be known (an unresolved id) may be the workspace's: the
workspaces of that scope are then not reported. Public network access is MLSTIX-AZ-ML-001's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac._refs import refers_to
from mlstix.scan.rules.iac.azure import arm_like
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC"]

_WORKSPACE = "Microsoft.MachineLearningServices/workspaces"
_MANAGED = ("allowinternetoutbound", "allowonlyapprovedoutbound")
_GROUP = "amlworkspace"


def _connections(ctx: Context) -> Iterator[tuple[Resource, Any]]:
    """(private endpoint, target id) for every connection to an ``amlworkspace`` sub-resource."""
    for pe in ctx.of_type("arm", "Microsoft.Network/privateEndpoints"):
        props = pe.attributes.get("properties")
        if not isinstance(props, Mapping):
            continue
        for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
            for conn in as_list(props.get(key)):
                inner = conn.get("properties") if isinstance(conn, Mapping) else None
                if not isinstance(inner, Mapping):
                    continue
                groups = as_list(inner.get("groupIds"))
                if any(is_unknown(g) or norm(g) == _GROUP for g in groups):
                    yield pe, inner.get("privateLinkServiceId")
    for pe in ctx.of_type("terraform", "azurerm_private_endpoint"):
        for conn in as_list(pe.attributes.get("private_service_connection")):
            if not isinstance(conn, Mapping):
                continue
            names = conn.get("subresource_names")
            if is_unknown(names) or any(is_unknown(n) or norm(n) == _GROUP for n in as_list(names)):
                yield pe, conn.get("private_connection_resource_id")


def _approved_connection(props: Mapping[str, Any]) -> bool:
    for conn in as_list(props.get("privateEndpointConnections")):
        status = lookup(conn, "properties.privateLinkServiceConnectionState.status")
        if isinstance(conn, Mapping) and norm(status) == "approved":
            return True
    return False


def _workspaces(ctx: Context) -> Iterator[tuple[Resource, str, Any, Mapping[str, Any]]]:
    """(workspace, attribute path of its mode, mode, ARM properties or {})."""
    for r in ctx.of_type("terraform", "azurerm_machine_learning_workspace"):
        yield (
            r,
            "managed_network.isolation_mode",
            lookup(r.attributes, "managed_network.isolation_mode"),
            {},
        )
    for r, props in arm_like(ctx, _WORKSPACE):
        if props is None:
            continue  # the body is not known
        yield (
            r,
            "properties.managedNetwork.isolationMode",
            lookup(props, "managedNetwork.isolationMode"),
            props,
        )


def _isolation(ctx: Context) -> Iterator[Hit]:
    connections = list(_connections(ctx))
    workspaces = list(_workspaces(ctx))
    # targets that are not known and name none of the scan's workspaces: may be any of them
    unplaced = {
        pe.scope
        for pe, target in connections
        if (is_unknown(target) or target is None)
        and not any(refers_to(target, w) for w, _p, _m, _props in workspaces)
    }
    for ws, path, mode, props in workspaces:
        if is_unknown(mode) or norm(mode) in _MANAGED:
            continue
        if _approved_connection(props):
            continue  # the live workspace: an approved private endpoint connection
        if ws.scope in unplaced:
            continue  # never reported on a guess
        if any(pe.scope == ws.scope and refers_to(target, ws) for pe, target in connections):
            continue
        shown = "Disabled" if mode is None else str(mode)
        yield Hit(
            ws,
            f"{path} is {shown}"
            + (" (not set; default Disabled)" if mode is None else "")
            + " and no private endpoint (Private Link sub-resource amlworkspace) connects to it: "
            "neither a managed virtual network nor a customer virtual network isolates it",
            {
                "attribute": path,
                "value": shown,
                "provider_default": mode is None,
                "private_endpoints": [],
            },
        )


LOGIC: dict[str, Logic] = {"azureml-network-isolation": _isolation}
