"""The rules that moved from live-only to IaC (MLSTIX-AWS-S3L-001, MLSTIX-AWS-KMS-001,
MLSTIX-AZ-DIAG-001, MLSTIX-GCP-AUD-001) on values a template leaves unknown: unknown is never
reported, and what is known still is."""

from __future__ import annotations

import json
from pathlib import Path

from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import default_registry, evaluate


def _flagged(tmp_path: Path, rule_id: str, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    found = collect([tmp_path])
    assert not found.errors, found.errors
    registry = default_registry()
    findings = evaluate(registry, [registry.get(rule_id)], found.resources, None)
    return sorted(str(f.location.resource) for f in findings)


_ARM = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def _workspace(name: str) -> dict[str, object]:
    return {
        "type": "Microsoft.MachineLearningServices/workspaces",
        "apiVersion": "2024-04-01",
        "name": name,
        "location": "eastus2",
        "properties": {},
    }


def test_arm_workspace_named_by_a_parameter_is_matched_by_the_same_expression(
    tmp_path: Path,
) -> None:
    setting = {
        "type": "Microsoft.Insights/diagnosticSettings",
        "apiVersion": "2021-05-01-preview",
        "name": "to-la",
        "scope": "[format('Microsoft.MachineLearningServices/workspaces/{0}', parameters('ws'))]",
        "properties": {
            "workspaceId": "[parameters('la')]",
            "logs": [{"categoryGroup": "allLogs", "enabled": True}],
        },
    }
    template = {
        "$schema": _ARM,
        "contentVersion": "1.0.0.0",
        "parameters": {"ws": {"type": "string"}, "la": {"type": "string"}},
        "resources": [
            _workspace("[parameters('ws')]"),
            setting,
            _workspace("[concat(parameters('ws'), '-dev')]"),
        ],
    }
    flagged = _flagged(tmp_path, "MLSTIX-AZ-DIAG-001", {"t.json": json.dumps(template)})
    assert flagged == [
        "Microsoft.MachineLearningServices/workspaces [concat(parameters('ws'), '-dev')]"
    ]


def test_terraform_setting_on_an_unknown_target_counts_for_the_module(tmp_path: Path) -> None:
    main = """
variable "workspace_id" { type = string }
resource "azurerm_machine_learning_workspace" "ws" {
  name = "ws"
  location = "eastus2"
  resource_group_name = "ml"
  application_insights_id = "x"
  key_vault_id = "y"
  storage_account_id = "z"
  identity { type = "SystemAssigned" }
}
resource "azurerm_monitor_diagnostic_setting" "by_id" {
  name = "to-la"
  target_resource_id = var.workspace_id
  log_analytics_workspace_id = "/subscriptions/0/resourceGroups/sec/la"
  enabled_log { category_group = "audit" }
}
"""
    assert _flagged(tmp_path, "MLSTIX-AZ-DIAG-001", {"main.tf": main}) == []


def test_audit_config_of_an_unknown_service_reports_nothing(tmp_path: Path) -> None:
    main = """
variable "service" { type = string }
resource "google_project_iam_audit_config" "x" {
  project = "p"
  service = var.service
  audit_log_config { log_type = "DATA_READ" }
}
resource "google_vertex_ai_endpoint" "e" {
  name = "e"
  display_name = "e"
  location = "us-central1"
}
"""
    assert _flagged(tmp_path, "MLSTIX-GCP-AUD-001", {"main.tf": main}) == []


def test_unknown_principals_and_accounts_are_not_judged_from_templates(tmp_path: Path) -> None:
    main = """
variable "reader_arn" { type = string }
resource "aws_s3_bucket" "models" { bucket = "acme-models" }
resource "aws_s3_bucket_public_access_block" "models" {
  bucket = aws_s3_bucket.models.id
  restrict_public_buckets = false
}
resource "aws_s3_bucket_policy" "models" {
  bucket = aws_s3_bucket.models.id
  policy = jsonencode({
    Statement = [
      { Effect = "Allow", Principal = { AWS = var.reader_arn }, Action = "s3:GetObject" },
      { Effect = "Allow", Principal = { AWS = "arn:aws:iam::444455556666:root" }, Action = "s3:*" },
    ]
  })
}
"""
    public = """
resource "aws_s3_bucket" "models_public" { bucket = "acme-models-public" }
resource "aws_s3_bucket_public_access_block" "models_public" {
  bucket = aws_s3_bucket.models_public.id
  restrict_public_buckets = false
}
resource "aws_s3_bucket_policy" "models_public" {
  bucket = aws_s3_bucket.models_public.id
  policy = jsonencode({ Statement = [{ Effect = "Allow", Principal = "*", Action = "s3:*" }] })
}
"""
    files = {"main.tf": main, "public.tf": public}
    assert _flagged(tmp_path, "MLSTIX-AWS-S3L-001", files) == ["aws_s3_bucket.models_public"]
