"""Python rules for Azure Machine Learning managed online endpoints and their deployments.

The azurerm provider has no resource for them: Terraform declares them with ``azapi_resource``
(``type = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints@<api-version>"``, the
ARM properties under ``body.properties``; azapi 1.x takes ``body`` as ``jsonencode(...)``), ARM
templates with the resource types themselves. Properties (ARM reference,
Microsoft.MachineLearningServices/workspaces/onlineEndpoints and .../deployments): endpoint
``authMode`` ``Key`` | ``AMLToken`` | ``AADToken``, ``publicNetworkAccess`` (default
``Enabled``); managed deployment ``egressPublicNetworkAccess`` (default ``Enabled``; with the
workspace's managed network isolation the workspace decides egress instead).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import decode_json_value
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC", "arm_like"]

_ENDPOINT = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
_DEPLOYMENT = f"{_ENDPOINT}/deployments"
_ISOLATED = ("allowonlyapprovedoutbound", "allowinternetoutbound")


def arm_like(ctx: Context, arm_type: str) -> Iterator[tuple[Resource, Mapping[str, Any] | None]]:
    """Resources of an ARM type, from ARM templates and Terraform ``azapi_resource``, with their
    ``properties`` (None when the body cannot be known)."""
    for r in ctx.of_type("arm", arm_type):
        props = r.attributes.get("properties")
        yield r, props if isinstance(props, Mapping) else ({} if props is None else None)
    for r in ctx.of_type("terraform", "azapi_resource"):
        rtype = r.attributes.get("type")
        if not isinstance(rtype, str) or is_unknown(rtype):
            continue
        if rtype.split("@", 1)[0].lower() != arm_type.lower():
            continue
        body = decode_json_value(r.attributes.get("body"))
        if not isinstance(body, Mapping):
            yield r, None
            continue
        props = body.get("properties")
        yield r, props if isinstance(props, Mapping) else ({} if props is None else None)


def _public(props: Mapping[str, Any]) -> Any:
    value = props.get("publicNetworkAccess")
    return "Enabled" if value is None else value


def _key_auth(ctx: Context) -> Iterator[Hit]:
    for r, props in arm_like(ctx, _ENDPOINT):
        if props is None:
            continue
        mode, public = props.get("authMode"), _public(props)
        if is_unknown(mode) or is_unknown(public):
            continue
        if norm(mode) == "key" and norm(public) != "disabled":
            yield Hit(
                r,
                f"authMode is Key on an endpoint whose publicNetworkAccess is {public}: a "
                "leaked key works from anywhere and never expires",
                {"attribute": "properties.authMode", "value": str(mode)},
            )


def _endpoint_public(ctx: Context) -> Iterator[Hit]:
    for r, props in arm_like(ctx, _ENDPOINT):
        if props is None:
            continue
        public = _public(props)
        if is_unknown(public) or norm(public) == "disabled":
            continue
        yield Hit(
            r,
            f"publicNetworkAccess is {public}"
            + (" (not set; default Enabled)" if props.get("publicNetworkAccess") is None else ""),
            {
                "attribute": "properties.publicNetworkAccess",
                "value": str(public),
                "provider_default": props.get("publicNetworkAccess") is None,
            },
        )


def _isolated_workspaces(ctx: Context) -> bool:
    for r in ctx.of_type("terraform", "azurerm_machine_learning_workspace"):
        if norm(lookup(r.attributes, "managed_network.isolation_mode")) in _ISOLATED:
            return True
    for _r, props in arm_like(ctx, "Microsoft.MachineLearningServices/workspaces"):
        if props and norm(lookup(props, "managedNetwork.isolationMode")) in _ISOLATED:
            return True
    return False


def _deployment_egress(ctx: Context) -> Iterator[Hit]:
    if _isolated_workspaces(ctx):
        return  # the workspace's managed network decides egress of its deployments
    for r, props in arm_like(ctx, _DEPLOYMENT):
        if props is None:
            continue
        if norm(props.get("endpointComputeType", "Managed")) != "managed":
            continue  # Kubernetes online deployments have no such setting
        egress = props.get("egressPublicNetworkAccess")
        if is_unknown(egress) or norm(egress) == "disabled":
            continue
        yield Hit(
            r,
            "egressPublicNetworkAccess is "
            + ("not set (default Enabled)" if egress is None else str(egress))
            + ": the model container can reach the internet",
            {
                "attribute": "properties.egressPublicNetworkAccess",
                "value": "Enabled" if egress is None else str(egress),
                "provider_default": egress is None,
            },
        )


LOGIC: dict[str, Logic] = {
    "azureml-endpoint-key-auth": _key_auth,
    "azureml-endpoint-public": _endpoint_public,
    "azureml-deployment-egress": _deployment_egress,
}
