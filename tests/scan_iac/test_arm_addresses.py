"""ARM resources are addressed by type and full name path, so children that share their last
name segment (two ``blue`` deployments under different endpoints) stay two resources."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.scan.iac import collect

_DEP = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"


def _template(path: Path) -> Path:
    """Two endpoints, each with a ``blue`` deployment whose egress is open: one declared inside
    its endpoint (nested child, own segment only), one at top level (full name)."""
    dep = {"endpointComputeType": "Managed", "egressPublicNetworkAccess": "Enabled"}
    doc = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
        "deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.MachineLearningServices/workspaces",
                "apiVersion": "2024-04-01",
                "name": "mlw",
                "properties": {},
                "resources": [
                    {
                        "type": "onlineEndpoints",
                        "apiVersion": "2024-04-01",
                        "name": "fraud",
                        "properties": {"authMode": "AADToken"},
                        "resources": [
                            {
                                "type": "deployments",
                                "apiVersion": "2024-04-01",
                                "name": "blue",
                                "properties": dep,
                            }
                        ],
                    }
                ],
            },
            {
                "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
                "apiVersion": "2024-04-01",
                "name": "mlw/churn",
                "properties": {"authMode": "AADToken"},
            },
            {
                "type": _DEP,
                "apiVersion": "2024-04-01",
                "name": "mlw/churn/blue",
                "properties": dep,
            },
            {
                "type": _DEP,
                "apiVersion": "2024-04-01",
                "name": "[concat('mlw/churn/', parameters('colour'))]",
                "properties": dep,
            },
        ],
    }
    path.write_text(json.dumps(doc, indent=1))
    return path


def test_nested_and_top_level_children_get_their_full_name_path(tmp_path: Path) -> None:
    found = collect([_template(tmp_path / "t.json")])
    assert not found.errors
    addresses = [r.address for r in found.resources]
    assert addresses[:5] == [
        "Microsoft.MachineLearningServices/workspaces mlw",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints mlw/fraud",
        f"{_DEP} mlw/fraud/blue",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints mlw/churn",
        f"{_DEP} mlw/churn/blue",
    ]
    assert len(set(addresses)) == len(addresses)
    # a name that is not known stays the expression it was written as
    assert "parameters('colour')" in addresses[5]


def test_findings_on_same_named_children_do_not_merge(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        cli,
        ["scan", "iac", str(_template(tmp_path / "t.json")), "--format", "json", "-o", str(out)],
    )
    assert result.exit_code == 1, result.output
    report = json.loads(out.read_text())
    egress = sorted(
        f["location"]["resource"]
        for f in report["findings"]
        if f["rule_id"] == "MLSTIX-AZ-ML-009" and "blue" in f["location"]["resource"]
    )
    assert egress == [f"{_DEP} mlw/churn/blue", f"{_DEP} mlw/fraud/blue"]
    # each finding names its workspace, found through the deployment's full name
    for f in report["findings"]:
        if f["rule_id"] == "MLSTIX-AZ-ML-009" and f["location"]["resource"] in egress:
            assert f["evidence"]["workspace"] == "mlw"
