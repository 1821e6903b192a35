"""Azure rules judged per resource the setting lives on, on the replayed ARM estate (bodies after
the published REST examples, see azure_support.py) and on the same shapes written as IaC.

MLSTIX-AZ-ML-009 (online deployment egress) is decided by the deployment's own workspace: an
isolated workspace elsewhere in the subscription no longer silences it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli

pytest.importorskip("azure.mgmt.core", reason="azure-mgmt-core (assess extra) is not installed")
pytest.importorskip("azure.identity", reason="azure-identity (assess extra) is not installed")

from tests.assess.azure_support import ML, SUB, StaticToken, arm_server


def _report(replay_edit: Any = None) -> Any:
    from mlstix.assess import evaluate_inventory
    from mlstix.assess.azure import AzureOptions, collect_azure
    from mlstix.kb.load import load_kb

    with arm_server() as (url, replay):
        if replay_edit is not None:
            replay_edit(replay)
        inventory, _ = collect_azure(
            AzureOptions(subscription=SUB, endpoint=url, credential=StaticToken())
        )
    return evaluate_inventory(inventory, load_kb())


def _add_workspace(replay: Any, name: str, mode: str, egress: str | None) -> None:
    from tests.assess.azure_support import _deployment, _endpoint, _workspace

    ws = _workspace(name, locked=False)
    ws["properties"]["managedNetwork"] = {"isolationMode": mode}
    replay.estate[f"/subscriptions/{SUB}/providers/{ML.split('/providers/')[1]}/workspaces"].append(
        ws
    )
    wid = ws["id"]
    dep = _deployment(name, f"ep-{name}", locked=False)
    if egress is not None:
        dep["properties"]["egressPublicNetworkAccess"] = egress
    for path, items in {
        f"{wid}/computes": [],
        f"{wid}/batchEndpoints": [],
        f"{wid}/onlineEndpoints": [_endpoint(name, f"ep-{name}", locked=True)],
        f"{wid}/onlineEndpoints/ep-{name}/deployments": [dep],
        f"{wid}/providers/Microsoft.Insights/diagnosticSettings": [],
    }.items():
        replay.estate[path] = items


def _egress(report: Any) -> dict[str, Any]:
    return {f.location.path: f for f in report.findings if f.rule_id == "MLSTIX-AZ-ML-009"}


def test_deployment_egress_is_judged_by_its_own_workspace() -> None:
    # wsopen (no managed network) and wslocked (AllowOnlyApprovedOutbound) in one subscription:
    # before, wslocked's isolation silenced wsopen's deployment too
    def edit(replay: Any) -> None:
        _add_workspace(replay, "wsinternet", "AllowInternetOutbound", "Disabled")
        _add_workspace(replay, "wsapproved", "AllowOnlyApprovedOutbound", None)
        _add_workspace(replay, "wsoff", "Disabled", "Disabled")

    found = _egress(_report(edit))
    dep = "onlineEndpoints/ep-{0}/deployments/blue"
    open_dep = f"{ML}/workspaces/wsopen/{dep.format('wsopen')}"
    internet = f"{ML}/workspaces/wsinternet/{dep.format('wsinternet')}"
    assert set(found) == {open_dep, internet}
    f = found[open_dep]
    assert "in workspace wsopen: egressPublicNetworkAccess is not set (default Enabled)" in (
        f.message
    )
    assert f.evidence["workspace"] == "wsopen" and f.evidence["provider_default"] is True
    g = found[internet]
    assert "in workspace wsinternet" in g.message and "AllowInternetOutbound" in g.message
    assert g.evidence["attribute"] == "workspace properties.managedNetwork.isolationMode"


def test_a_same_named_workspace_in_another_group_does_not_decide(tmp_path: Path) -> None:
    # two workspaces named "twin": the isolated one lives in another resource group
    def edit(replay: Any) -> None:
        _add_workspace(replay, "twin", "Disabled", None)
        other = _workspace_copy(replay, "twin")
        other["id"] = other["id"].replace("workspace-1234", "other-group")
        other["properties"]["managedNetwork"] = {"isolationMode": "AllowOnlyApprovedOutbound"}
        replay.estate[next(p for p in replay.estate if p.endswith("/workspaces"))].append(other)
        for suffix in ("computes", "batchEndpoints", "onlineEndpoints"):
            replay.estate[f"{other['id']}/{suffix}"] = []
        replay.estate[f"{other['id']}/providers/Microsoft.Insights/diagnosticSettings"] = []

    found = _egress(_report(edit))
    assert f"{ML}/workspaces/twin/onlineEndpoints/ep-twin/deployments/blue" in found


def _workspace_copy(replay: Any, name: str) -> dict[str, Any]:
    path = next(p for p in replay.estate if p.endswith("/workspaces"))
    return json.loads(json.dumps(next(w for w in replay.estate[path] if w["name"] == name)))


_TF = """
resource "azurerm_machine_learning_workspace" "open" {
  name = "mlw-open"
}
resource "azurerm_machine_learning_workspace" "locked" {
  name = "mlw-locked"
  managed_network {
    isolation_mode = "AllowOnlyApprovedOutbound"
  }
}
resource "azapi_resource" "ep_open" {
  type      = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2024-04-01"
  name      = "churn"
  parent_id = azurerm_machine_learning_workspace.open.id
  body      = { properties = { authMode = "AADToken", publicNetworkAccess = "Disabled" } }
}
resource "azapi_resource" "ep_locked" {
  type      = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2024-04-01"
  name      = "churn"
  parent_id = azurerm_machine_learning_workspace.locked.id
  body      = { properties = { authMode = "AADToken", publicNetworkAccess = "Disabled" } }
}
resource "azapi_resource" "dep_open" {
  type      = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments@2024-04-01"
  name      = "blue"
  parent_id = azapi_resource.ep_open.id
  body      = { properties = { endpointComputeType = "Managed", model = "azureml:churn:3" } }
}
resource "azapi_resource" "dep_locked" {
  type      = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments@2024-04-01"
  name      = "blue"
  parent_id = azapi_resource.ep_locked.id
  body      = { properties = { endpointComputeType = "Managed", model = "azureml:churn:3" } }
}
"""


def _arm(ws_mode: dict[str, str | None]) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for ws, mode in ws_mode.items():
        props: dict[str, Any] = {}
        if mode:
            props["managedNetwork"] = {"isolationMode": mode}
        resources.append(
            {
                "type": "Microsoft.MachineLearningServices/workspaces",
                "apiVersion": "2024-04-01",
                "name": ws,
                "properties": props,
            }
        )
        resources.append(
            {
                "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
                "apiVersion": "2024-04-01",
                "name": f"{ws}/churn/blue-{ws}",
                "properties": {"endpointComputeType": "Managed", "model": "azureml:churn:3"},
            }
        )
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": resources,
    }


def _scan(path: Path) -> list[dict[str, Any]]:
    out = path.parent / f"{path.name}.report.json"
    CliRunner().invoke(
        cli, ["scan", "iac", str(path), "--cloud", "azure", "--format", "json", "-o", str(out)]
    )
    return [
        f for f in json.loads(out.read_text())["findings"] if f["rule_id"] == "MLSTIX-AZ-ML-009"
    ]


def test_iac_deployments_follow_their_own_workspace(tmp_path: Path) -> None:
    tf = tmp_path / "tf"
    tf.mkdir()
    (tf / "main.tf").write_text(_TF)
    hits = _scan(tf)
    assert [f["location"]["resource"] for f in hits] == ["azapi_resource.dep_open"]
    assert hits[0]["evidence"]["workspace"] == "mlw-open"
    arm = tmp_path / "template.json"
    arm.write_text(
        json.dumps(
            _arm({"wsa": None, "wsb": "AllowOnlyApprovedOutbound", "wsc": "AllowInternetOutbound"})
        )
    )
    hits = _scan(arm)
    assert sorted(f["evidence"]["workspace"] for f in hits) == ["wsa", "wsc"]


def test_registry_public_network_access_on_the_replayed_estate() -> None:
    found = {f.location.path for f in _report().findings if f.rule_id == "MLSTIX-AZ-REG-001"}
    assert found == {f"{ML}/registries/models-shared"}
