"""MLSTIX-AZ-ML-004 (workspace isolation) and MLSTIX-AZ-ML-008 (public online endpoint) through
the live Azure collector: ``collect_azure`` with the real Azure SDK pipeline against the replayed
Resource Manager (tests/assess/azure_support.py).

The bodies follow the published REST examples of azure-rest-api-specs,
``specification/machinelearningservices/resource-manager/Microsoft.MachineLearningServices/
stable/2024-04-01/examples/``: ``Workspace/get.json`` (a workspace whose
``privateEndpointConnections`` carry ``privateLinkServiceConnectionState.status``) and
``Workspace/OnlineEndpoint/get.json`` (an endpoint whose body has no ``publicNetworkAccess``: the
service default, ``Enabled``, applies).
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("azure.mgmt.core", reason="azure-mgmt-core (assess extra) is not installed")
pytest.importorskip("azure.identity", reason="azure-identity (assess extra) is not installed")

from tests.assess.azure_support import ML, RG, SUB, StaticToken, _workspace, arm_server

_LIST = f"/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/workspaces"


def _connection(ws: str, status: str) -> dict[str, Any]:
    # Workspace/get.json: properties.privateEndpointConnections[]
    return {
        "id": f"{ML}/workspaces/{ws}/privateEndpointConnections/{ws}-pe",
        "name": f"{ws}-pe",
        "type": "Microsoft.MachineLearningServices/workspaces/privateEndpointConnections",
        "properties": {
            "provisioningState": "Succeeded",
            "privateEndpoint": {"id": f"{RG}/providers/Microsoft.Network/privateEndpoints/pe-{ws}"},
            "privateLinkServiceConnectionState": {
                "status": status,
                "description": "Auto-Approved" if status == "Approved" else "Please approve",
                "actionsRequired": "None",
            },
        },
    }


def _connected(status: str) -> dict[str, Any]:
    return {"privateEndpointConnections": [_connection(status.lower(), status)]}


def _managed(mode: str) -> dict[str, Any]:
    return {"managedNetwork": {"isolationMode": mode}}


def _endpoint(ws: str, name: str, props: dict[str, Any]) -> dict[str, Any]:
    # Workspace/OnlineEndpoint/get.json: no publicNetworkAccess in the published body
    return {
        "id": f"{ML}/workspaces/{ws}/onlineEndpoints/{name}",
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "location": "eastus2",
        "kind": "Managed",
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "authMode": "AMLToken",
            "scoringUri": f"https://{name}.eastus2.inference.ml.azure.com/score",
            "provisioningState": "Succeeded",
            "traffic": {"blue": 100},
            **props,
        },
    }


def _add(replay: Any, name: str, props: dict[str, Any], endpoints: list[dict[str, Any]]) -> None:
    ws = _workspace(name, locked=False)
    ws["properties"].pop("managedNetwork", None)
    ws["properties"].update(props)
    replay.estate[_LIST].append(ws)
    wid = ws["id"]
    replay.estate[f"{wid}/computes"] = []
    replay.estate[f"{wid}/batchEndpoints"] = []
    replay.estate[f"{wid}/onlineEndpoints"] = endpoints
    for ep in endpoints:
        replay.estate[f"{ep['id']}/deployments"] = []
    replay.estate[f"{wid}/providers/Microsoft.Insights/diagnosticSettings"] = []


def _live(edit: Any) -> Any:
    from mlstix.assess import evaluate_inventory
    from mlstix.assess.azure import AzureOptions, collect_azure
    from mlstix.kb.load import load_kb

    with arm_server() as (url, replay):
        replay.estate[_LIST] = []  # only this test's workspaces
        edit(replay)
        inventory, _ = collect_azure(
            AzureOptions(subscription=SUB, endpoint=url, credential=StaticToken())
        )
        assert {m for m, _ in replay.requests} == {"GET"}
    report = evaluate_inventory(inventory, load_kb())
    assert report.errors == (), report.errors
    return report


def _by_rule(report: Any, rule_id: str) -> dict[str, Any]:
    return {f.location.path: f for f in report.findings if f.rule_id == rule_id}


def test_workspace_isolation_from_the_live_workspace() -> None:
    def edit(replay: Any) -> None:
        # the customer-VNet method: an approved private endpoint connection (as get.json)
        _add(
            replay, "wsapproved", {"privateEndpointConnections": [_connection("a", "Approved")]}, []
        )
        # a connection still waiting for approval isolates nothing yet
        _add(replay, "wspending", _connected("Pending"), [])
        _add(
            replay, "wsrejected", {"privateEndpointConnections": [_connection("r", "Rejected")]}, []
        )
        # the managed-network method, either mode
        _add(
            replay, "wsinternet", {"managedNetwork": {"isolationMode": "AllowInternetOutbound"}}, []
        )
        _add(replay, "wsdisabled", {"managedNetwork": {"isolationMode": "Disabled"}}, [])
        _add(replay, "wsbare", {}, [])  # neither: managedNetwork absent (default Disabled)

    found = _by_rule(_live(edit), "MLSTIX-AZ-ML-004")
    assert set(found) == {
        f"{ML}/workspaces/{n}" for n in ("wspending", "wsrejected", "wsdisabled", "wsbare")
    }
    bare = found[f"{ML}/workspaces/wsbare"]
    assert bare.evidence["provider_default"] is True
    assert "properties.managedNetwork.isolationMode is Disabled (not set; default Disabled)" in (
        bare.message
    )
    assert bare.evidence["account"] == SUB
    assert found[f"{ML}/workspaces/wsdisabled"].evidence["provider_default"] is False


def test_public_online_endpoints_from_the_live_endpoints() -> None:
    def edit(replay: Any) -> None:
        _add(
            replay,
            "wsserve",
            {"managedNetwork": {"isolationMode": "AllowOnlyApprovedOutbound"}},
            [
                _endpoint("wsserve", "ep-default", {}),  # the published body: not set
                _endpoint("wsserve", "ep-enabled", {"publicNetworkAccess": "Enabled"}),
                _endpoint("wsserve", "ep-private", {"publicNetworkAccess": "Disabled"}),
                # a Kubernetes online endpoint names its compute; publicNetworkAccess does not
                # apply to it
                _endpoint(
                    "wsserve",
                    "ep-aks",
                    {"compute": f"{ML}/workspaces/wsserve/computes/aks-attached"},
                ),
            ],
        )

    found = _by_rule(_live(edit), "MLSTIX-AZ-ML-008")
    base = f"{ML}/workspaces/wsserve/onlineEndpoints"
    assert set(found) == {f"{base}/ep-default", f"{base}/ep-enabled"}
    default = found[f"{base}/ep-default"]
    assert default.evidence["provider_default"] is True
    assert "publicNetworkAccess is Enabled (not set; default Enabled)" in default.message
    assert found[f"{base}/ep-enabled"].evidence["provider_default"] is False
    assert default.location.resource.endswith("ep-default")
