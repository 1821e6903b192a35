"""What a rule says about the resources it excuses or not (the fixtures check who fires)."""

from __future__ import annotations

from pathlib import Path

from mlstix.findings.model import Finding
from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import default_registry, evaluate

FIXTURES = Path(__file__).parent / "fixtures"


def _findings(rule_id: str, folder: Path) -> list[Finding]:
    registry = default_registry()
    found = collect([folder])
    assert not found.errors, found.errors
    return list(evaluate(registry, [registry.get(rule_id)], found.resources, None))


def test_sagemaker_model_served_on_instances_says_by_which_variant() -> None:
    for rule_id in ("MLSTIX-AWS-SM-005", "MLSTIX-AWS-SM-006"):
        (f,) = _findings(rule_id, FIXTURES / rule_id / "terraform-serverless")
        assert f.location.resource == "aws_sagemaker_model.fail_also_on_instances"
        ev = f.evidence
        assert ev["served_by"] == ["churn-instances/AllTraffic", "churn-serverless/Shadow"]
        assert ev["serverless_only"] is False
        assert "instance-backed production variant serves it (churn-instances/AllTraffic)" in (
            f.message
        )


def test_sagemaker_model_beside_a_variant_of_unknown_model_is_judged(tmp_path: Path) -> None:
    """A serverless-only model is excused only when no instance variant could serve it."""
    (tmp_path / "main.tf").write_text(
        """
resource "aws_sagemaker_model" "m" {
  name               = "m"
  execution_role_arn = "arn:aws:iam::123456789012:role/sm"
}
resource "aws_sagemaker_endpoint_configuration" "sl" {
  name = "sl"
  production_variants {
    variant_name = "a"
    model_name   = aws_sagemaker_model.m.name
    serverless_config {
      max_concurrency   = 1
      memory_size_in_mb = 1024
    }
  }
}
resource "aws_sagemaker_endpoint_configuration" "other" {
  name = "other"
  production_variants {
    variant_name  = "b"
    model_name    = var.model_name
    instance_type = "ml.m5.large"
  }
}
variable "model_name" { type = string }
"""
    )
    (f,) = _findings("MLSTIX-AWS-SM-005", tmp_path)
    assert "whose model is not known" in f.message
    (tmp_path / "main.tf").write_text(
        (tmp_path / "main.tf").read_text().replace("var.model_name", '"someone-else"')
    )
    assert _findings("MLSTIX-AWS-SM-005", tmp_path) == []


def _arm(tmp_path: Path, resources: list[dict[str, object]]) -> Path:
    import json

    (tmp_path / "t.json").write_text(
        json.dumps(
            {
                "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                "deploymentTemplate.json#",
                "contentVersion": "1.0.0.0",
                "resources": resources,
            }
        )
    )
    return tmp_path


def test_live_workspace_with_an_approved_private_endpoint_connection_is_isolated(
    tmp_path: Path,
) -> None:
    """The ARM GET response of a workspace lists its private endpoint connections in ARM's
    common shape (``privateLinkServiceConnectionState.status`` Approved, Pending, Rejected or
    Disconnected); only an Approved one isolates it."""

    def ws(name: str, status: str) -> dict[str, object]:
        return {
            "type": "Microsoft.MachineLearningServices/workspaces",
            "name": name,
            "location": "westeurope",
            "properties": {
                "privateEndpointConnections": [
                    {
                        "id": f"/subscriptions/s/resourceGroups/rg/providers/"
                        f"Microsoft.MachineLearningServices/workspaces/{name}/"
                        "privateEndpointConnections/pe",
                        "properties": {
                            "privateEndpoint": {"id": "/subscriptions/s/.../privateEndpoints/pe"},
                            "privateLinkServiceConnectionState": {"status": status},
                        },
                    }
                ]
            },
        }

    found = _findings(
        "MLSTIX-AZ-ML-004", _arm(tmp_path, [ws("approved", "Approved"), ws("pending", "Pending")])
    )
    assert [f.location.resource for f in found] == [
        "Microsoft.MachineLearningServices/workspaces pending"
    ]
    assert "no private endpoint (Private Link sub-resource amlworkspace)" in found[0].message
    assert found[0].evidence["provider_default"] is True


def test_private_endpoint_to_an_unknown_target_silences_the_workspace(tmp_path: Path) -> None:
    """An amlworkspace endpoint whose target is a parameter may be the workspace's."""
    resources: list[dict[str, object]] = [
        {"type": "Microsoft.MachineLearningServices/workspaces", "name": "ws", "properties": {}},
        {
            "type": "Microsoft.Network/privateEndpoints",
            "name": "pe",
            "properties": {
                "privateLinkServiceConnections": [
                    {
                        "properties": {
                            "privateLinkServiceId": "[parameters('workspaceId')]",
                            "groupIds": ["amlworkspace"],
                        }
                    }
                ]
            },
        },
    ]
    assert _findings("MLSTIX-AZ-ML-004", _arm(tmp_path, resources)) == []
    resources.pop()
    assert len(_findings("MLSTIX-AZ-ML-004", _arm(tmp_path, resources))) == 1


def test_kubernetes_online_endpoint_is_not_asked_for_public_network_access(
    tmp_path: Path,
) -> None:
    """publicNetworkAccess applies only to managed online endpoints; a Kubernetes endpoint
    names its Kubernetes compute in ``compute`` (Azure ML's online endpoint YAML reference)."""
    base = {"type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"}
    k8s: dict[str, object] = {
        **base,
        "name": "ws/k8s",
        "properties": {"authMode": "Key", "compute": "/subscriptions/s/.../computes/aks"},
    }
    managed: dict[str, object] = {**base, "name": "ws/managed", "properties": {"authMode": "Key"}}
    for rule_id in ("MLSTIX-AZ-ML-007", "MLSTIX-AZ-ML-008"):
        found = _findings(rule_id, _arm(tmp_path, [k8s, managed]))
        assert [f.location.resource for f in found] == [f"{base['type']} ws/managed"], rule_id
