"""Key rotation rules (MLSTIX-AWS-KMS-002, MLSTIX-AZ-KV-002, MLSTIX-GCP-KMS-001) on the shapes
real modules take: one finding per ``for_each`` instance, a key in a local module used by an ML
resource of the root, rotation policies built by ``dynamic`` blocks, values that cannot be known,
plan JSON. The pass/fail fixtures are in ``fixtures/<rule>/``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlstix.scan.iac import Options, collect
from mlstix.scan.rules.iac import default_registry, evaluate
from mlstix.scan.rules.iac.key_rotation import iso_days
from tests.scan_iac.files import write_tree as _write


def _hits(root: Path, rule_id: str, options: Options | None = None) -> list[str]:
    found = collect([root], options=options) if options else collect([root])
    assert not found.errors, found.errors
    registry = default_registry()
    findings = evaluate(registry, [registry.get(rule_id)], found.resources, None)
    return sorted(f.location.resource or "" for f in findings)


@pytest.mark.parametrize(
    ("text", "days"),
    [("P90D", 90), ("P1Y", 365), ("P18M", 540), ("P2W", 14), ("p1y2m3d", 428), ("PT36H", 1.5)],
)
def test_iso_durations(text: str, days: float) -> None:
    assert iso_days(text) == days


@pytest.mark.parametrize("text", ["", "P", "PT", "90D", "P1.5Y", "1 year", None, 365])
def test_iso_durations_refused(text: object) -> None:
    assert iso_days(text) is None


def test_for_each_keys_each_get_their_own_finding(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
locals {
  teams = {
    fraud = { rotate = true,  days = 180 }
    churn = { rotate = false, days = 365 }
    ads   = { rotate = true,  days = 730 }
  }
}
resource "aws_kms_key" "team" {
  for_each                = local.teams
  description             = "SageMaker ${each.key} models"
  enable_key_rotation     = each.value.rotate
  rotation_period_in_days = each.value.days
}
""",
        },
    )
    assert _hits(tmp_path, "MLSTIX-AWS-KMS-002") == [
        'aws_kms_key.team["ads"]',
        'aws_kms_key.team["churn"]',
    ]


def test_key_in_a_local_module_used_by_the_root(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "modules/key/main.tf": """
variable "rotate" {
  type    = bool
  default = false
}
resource "aws_kms_key" "this" {
  enable_key_rotation = var.rotate
}
output "arn" { value = aws_kms_key.this.arn }
""",
            "root/main.tf": """
module "endpoint_key" {
  source = "../modules/key"
}
module "rotated_key" {
  source = "../modules/key"
  rotate = true
}
resource "aws_sagemaker_endpoint_configuration" "ep" {
  name        = "ep"
  kms_key_arn = module.endpoint_key.arn
  production_variants {
    variant_name           = "main"
    model_name             = "m"
    instance_type          = "ml.m5.large"
    initial_instance_count = 1
  }
}
resource "aws_sagemaker_notebook_instance" "nb" {
  name          = "nb"
  role_arn      = "r"
  instance_type = "ml.t3.medium"
  kms_key_id    = module.rotated_key.arn
}
""",
        },
    )
    assert _hits(tmp_path / "root", "MLSTIX-AWS-KMS-002") == [
        "module.endpoint_key.aws_kms_key.this"
    ]


def test_var_turns_rotation_on(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
variable "rotate" { default = false }
resource "aws_kms_key" "models" { enable_key_rotation = var.rotate }
""",
        },
    )
    assert _hits(tmp_path, "MLSTIX-AWS-KMS-002") == ["aws_kms_key.models"]
    on = Options(variables=(("rotate", "true"),))
    assert _hits(tmp_path, "MLSTIX-AWS-KMS-002", on) == []


AZ_KEY = """
variable "policy" {
  type = object({ after = optional(string) })
  default = %s
}
resource "azurerm_key_vault_key" "model_cmk" {
  name         = "model-cmk"
  key_vault_id = "kv"
  key_type     = "RSA"
  key_opts     = ["wrapKey"]
  dynamic "rotation_policy" {
    for_each = var.policy.after == null ? [] : [var.policy]
    content {
      expire_after = "P2Y"
      automatic {
        time_after_creation = rotation_policy.value.after
      }
    }
  }
}
"""


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        ('{ after = "P90D" }', []),
        ("{}", ["azurerm_key_vault_key.model_cmk"]),
        ('{ after = "P400D" }', ["azurerm_key_vault_key.model_cmk"]),
    ],
)
def test_azure_dynamic_rotation_policy(tmp_path: Path, default: str, expected: list[str]) -> None:
    _write(tmp_path, {"main.tf": AZ_KEY % default})
    assert _hits(tmp_path, "MLSTIX-AZ-KV-002") == expected


def test_unknown_values_decide_nothing(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
variable "period" { type = string }
variable "rotate" { type = bool }
resource "google_kms_crypto_key" "vertex" {
  name            = "vertex"
  key_ring        = "ring"
  rotation_period = var.period
}
resource "aws_kms_key" "sagemaker" { enable_key_rotation = var.rotate }
data "aws_kms_key" "model_key" { key_id = "alias/models" }
""",
        },
    )
    assert _hits(tmp_path, "MLSTIX-GCP-KMS-001") == []
    assert _hits(tmp_path, "MLSTIX-AWS-KMS-002") == []


def test_plan_json(tmp_path: Path) -> None:
    def key(name: str, rotate: bool, days: int | None) -> dict[str, object]:
        return {
            "address": f"aws_kms_key.{name}",
            "mode": "managed",
            "type": "aws_kms_key",
            "name": name,
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "values": {
                "description": "SageMaker models",
                "enable_key_rotation": rotate,
                "rotation_period_in_days": days,
                "customer_master_key_spec": "SYMMETRIC_DEFAULT",
                "key_usage": "ENCRYPT_DECRYPT",
                "custom_key_store_id": "" if name == "off" else None,
                "xks_key_id": None,
            },
        }

    plan = {
        "format_version": "1.2",
        "planned_values": {
            "root_module": {
                "resources": [key("off", False, None), key("on", True, 365), key("long", True, 800)]
            }
        },
        "resource_changes": [],
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    assert _hits(tmp_path, "MLSTIX-AWS-KMS-002") == ["aws_kms_key.long", "aws_kms_key.off"]
