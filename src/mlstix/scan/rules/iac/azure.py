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

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import Expr, is_unknown, lookup, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import decode_json_value
from mlstix.scan.rules.iac._refs import refers_to
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC", "arm_like"]

_ENDPOINT = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
_DEPLOYMENT = f"{_ENDPOINT}/deployments"
_WORKSPACE = "Microsoft.MachineLearningServices/workspaces"
_WS_IN_ID = re.compile(r"(?i)/workspaces/([^/]+)/onlineEndpoints/")
_WS_ID_END = re.compile(r"(?i)/providers/Microsoft\.MachineLearningServices/workspaces/([^/]+)/?$")


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


def _kubernetes(props: Mapping[str, Any]) -> bool:
    """A Kubernetes online endpoint: ``compute`` names its attached Kubernetes compute (the CLI's
    endpoint YAML: "only applicable for endpoint deployments to Azure Arc-enabled Kubernetes
    clusters"). ``publicNetworkAccess`` "is applicable only for managed endpoints": on these the
    cluster's inference router decides reachability, which the endpoint cannot show."""
    compute = props.get("compute")
    return compute not in (None, "")


def _key_auth(ctx: Context) -> Iterator[Hit]:
    for r, props in arm_like(ctx, _ENDPOINT):
        if props is None or _kubernetes(props):
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
        if props is None or _kubernetes(props):
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


def _workspaces(ctx: Context) -> list[tuple[Resource, set[str], Any]]:
    """Every workspace of the scan: the resource, the names it is known by (lower case) and its
    managed network isolation mode (None when not set, an expression when not known)."""
    out: list[tuple[Resource, set[str], Any]] = []
    for r in ctx.of_type("terraform", "azurerm_machine_learning_workspace"):
        names = {str(r.attributes.get("name") or "")}
        out.append((r, names, lookup(r.attributes, "managed_network.isolation_mode")))
    for r, props in arm_like(ctx, _WORKSPACE):
        names = {str(r.attributes.get("name") or ""), r.name if r.dialect == "arm" else ""}
        mode = lookup(props, "managedNetwork.isolationMode") if props is not None else Expr("?")
        out.append((r, names, mode))
    return [(r, {n.lower() for n in names if n and not is_unknown(n)}, m) for r, names, m in out]


def _workspace_name(
    ctx: Context, dep: Resource, workspaces: list[tuple[Resource, set[str], Any]]
) -> tuple[str | None, Resource | None]:
    """The workspace a deployment belongs to: its name from the resource id, the ARM name
    ``ws/endpoint/deployment`` or azapi ``parent_id``, or the Terraform workspace resource its
    endpoint's ``parent_id`` refers to."""
    dep_id = dep.attributes.get("id")
    if isinstance(dep_id, str) and not is_unknown(dep_id):
        for ws, names, _mode in workspaces:
            wid = ws.attributes.get("id")
            if isinstance(wid, str) and dep_id.lower().startswith(f"{wid.lower()}/"):
                return (sorted(names) or [ws.name])[0], ws  # same name in two groups: by id
    texts = [dep_id, dep.attributes.get("name"), dep.attributes.get("parent_id")]
    for text in texts:
        if isinstance(text, str) and not is_unknown(text):
            m = _WS_IN_ID.search(text)
            if m:
                return m.group(1).lower(), None
    name = dep.name  # ARM: the full name path, also for a child declared inside its parent
    if dep.dialect == "arm" and isinstance(name, str) and not is_unknown(name):
        parts = name.split("/")
        if len(parts) == 3:
            return parts[0].lower(), None
    parent = dep.attributes.get("parent_id")
    if dep.dialect != "terraform" or parent is None:
        return None, None
    for ep, _props in arm_like(ctx, _ENDPOINT):
        if ep.dialect == "terraform" and ep.scope == dep.scope and refers_to(parent, ep):
            ep_parent = ep.attributes.get("parent_id")
            if isinstance(ep_parent, str) and not is_unknown(ep_parent):
                m = _WS_ID_END.search(ep_parent)
                if m:
                    return m.group(1).lower(), None
            for ws, _names, _mode in workspaces:
                if ws.scope == dep.scope and refers_to(ep_parent, ws):
                    return None, ws
    return None, None


def _deployment_egress(ctx: Context) -> Iterator[Hit]:
    """Judged per workspace: a workspace's managed network decides the egress of its managed
    deployments (AllowOnlyApprovedOutbound blocks it, AllowInternetOutbound allows it, and the
    deployment's own egressPublicNetworkAccess applies only without one)."""
    workspaces = _workspaces(ctx)
    for r, props in arm_like(ctx, _DEPLOYMENT):
        if props is None:
            continue
        if norm(props.get("endpointComputeType", "Managed")) != "managed":
            continue  # Kubernetes online deployments have no such setting
        name, ws = _workspace_name(ctx, r, workspaces)
        matches = [
            (w, names, m)
            for w, names, m in workspaces
            if w.scope == r.scope and (w is ws if ws is not None else name in names)
        ]
        if (
            name is None
            and ws is None
            and any(
                w.scope == r.scope and m is not None and norm(m) != "disabled"
                for w, _names, m in workspaces
            )
        ):
            continue  # its workspace is not known, and one of the template's may isolate it
        mode = matches[0][2] if matches else None
        if matches:
            shown: str | None = min(matches[0][1], default=matches[0][0].name)
        else:
            shown = name
        where = f"in workspace {shown}: " if shown else ""
        evidence: dict[str, Any] = {"workspace": shown} if shown else {}
        if is_unknown(mode) or norm(mode) == "allowonlyapprovedoutbound":
            continue
        if norm(mode) == "allowinternetoutbound":
            yield Hit(
                r,
                f"{where}the workspace's managed network isolationMode is AllowInternetOutbound: "
                "the model container can reach the internet (the deployment's own "
                "egressPublicNetworkAccess does not apply under a managed network)",
                {
                    **evidence,
                    "attribute": "workspace properties.managedNetwork.isolationMode",
                    "value": "AllowInternetOutbound",
                },
            )
            continue
        egress = props.get("egressPublicNetworkAccess")
        if is_unknown(egress) or norm(egress) == "disabled":
            continue
        yield Hit(
            r,
            where
            + "egressPublicNetworkAccess is "
            + ("not set (default Enabled)" if egress is None else str(egress))
            + ": the model container can reach the internet",
            {
                **evidence,
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
