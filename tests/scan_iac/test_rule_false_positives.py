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
