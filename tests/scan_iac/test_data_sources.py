"""Terraform data sources are reads of things managed elsewhere, never judged as configured.

``data "aws_s3_bucket" "x" { bucket = "..." }`` holds none of the bucket's settings: a rule that
judges configuration must neither flag it nor count it as judged, whatever the provider (AWS,
``azurerm_*``, ``google_*``, the Kubernetes provider) and whether the input is HCL or a plan's
JSON (``"mode": "data"``); ARM's ``"existing": true`` resources are the same kind of read.
Rules still read a data source's content for a managed resource (a
``data.aws_iam_policy_document`` a bucket policy attaches).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import Context, default_registry, evaluate_isolated

from .files import write_tree

FIXTURES = Path(__file__).parent / "fixtures"
_TF_CASES = sorted(
    (rule_dir.name, case.name)
    for rule_dir in FIXTURES.iterdir()
    if rule_dir.is_dir()
    for case in rule_dir.iterdir()
    if case.is_dir() and case.name.split("-", 1)[0] == "terraform"
)
_RESOURCE = re.compile(r'(?m)^(\s*)resource(\s+")')
_ARM_CASES = sorted(
    (rule_dir.name, case.name)
    for rule_dir in FIXTURES.iterdir()
    if rule_dir.is_dir()
    for case in rule_dir.iterdir()
    if case.is_dir() and case.name.split("-", 1)[0] == "arm"
)


def _scan(tmp_path: Path, files: dict[str, str]) -> tuple[int, dict[str, Any]]:
    root = write_tree(tmp_path / "iac", files)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["scan", "iac", str(root), "--format", "json", "-o", str(out)])
    assert result.exit_code in (0, 1), result.output
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result.exit_code, report


@pytest.mark.parametrize(("rule_id", "case"), _TF_CASES, ids=[f"{r}/{c}" for r, c in _TF_CASES])
def test_a_rule_fixture_read_as_data_sources_is_not_judged(
    rule_id: str, case: str, tmp_path: Path
) -> None:
    """Every rule's Terraform fixture with each ``resource`` block turned into a ``data`` block:
    the same types, names and settings, read instead of managed. No finding, nothing judged."""
    rule = default_registry().get(rule_id)
    copy = tmp_path / case
    shutil.copytree(FIXTURES / rule_id / case, copy)
    for tf in copy.rglob("*.tf"):
        tf.write_text(_RESOURCE.sub(r"\1data\2", tf.read_text()))
    found = collect([copy])
    assert not found.errors, found.errors
    assert found.resources and all(r.data for r in found.resources if r.dialect == "terraform")
    out = evaluate_isolated(default_registry(), [rule], found.resources, None)
    assert not out.errors, out.errors
    assert [f.location.resource for f in out.findings] == []
    assert out.not_applicable([rule]) == [rule_id]


def _existing(resources: Any) -> None:
    for res in resources.values() if isinstance(resources, dict) else resources or []:
        if isinstance(res, dict):
            res["existing"] = True
            _existing(res.get("resources"))


@pytest.mark.parametrize(("rule_id", "case"), _ARM_CASES, ids=[f"{r}/{c}" for r, c in _ARM_CASES])
def test_a_rule_fixture_of_arm_existing_resources_is_not_judged(
    rule_id: str, case: str, tmp_path: Path
) -> None:
    """ARM's data sources: every resource of a rule's ARM fixture declared ``"existing": true``
    (a reference to a resource deployed elsewhere, Bicep's ``existing``). Nothing judged."""
    rule = default_registry().get(rule_id)
    copy = tmp_path / case
    shutil.copytree(FIXTURES / rule_id / case, copy)
    for template in copy.rglob("*.json"):
        doc = json.loads(template.read_text())
        _existing(doc.get("resources"))
        template.write_text(json.dumps(doc, indent=1))
    found = collect([copy])
    assert not found.errors, found.errors
    assert found.resources and all(r.data for r in found.resources if r.dialect == "arm")
    out = evaluate_isolated(default_registry(), [rule], found.resources, None)
    assert [f.location.resource for f in out.findings] == []
    assert out.not_applicable([rule]) == [rule_id]


def test_the_managed_fixtures_are_still_judged() -> None:
    """The counterpart: each rule's main Terraform fixture, managed, is judged and flagged."""
    registry = default_registry()
    for rule_id, case in _TF_CASES + _ARM_CASES:
        if case not in ("terraform", "arm"):
            continue
        rule = registry.get(rule_id)
        found = collect([FIXTURES / rule_id / case])
        out = evaluate_isolated(registry, [rule], found.resources, None)
        assert out.findings and out.ran([rule]) == [rule_id], rule_id


_AWS_DATA = """
data "aws_s3_bucket" "models" {
  bucket = "acme-ml-models"
}
"""

_AWS_MANAGED = """
resource "aws_s3_bucket" "models" {
  bucket = "acme-ml-models"
}
"""

_S3 = {"MLSTIX-AWS-S3-001", "MLSTIX-AWS-S3-002", "MLSTIX-AWS-S3-003", "MLSTIX-AWS-S3-005"}


def test_a_module_holding_only_an_s3_data_source_is_clean(tmp_path: Path) -> None:
    code, report = _scan(tmp_path, {"main.tf": _AWS_DATA})
    assert code == 0
    assert report["findings"] == [] and report["rules_run"] == []
    assert set(report["rules_not_applicable"]) >= _S3


def test_the_managed_bucket_still_fails(tmp_path: Path) -> None:
    code, report = _scan(tmp_path, {"main.tf": _AWS_MANAGED + _AWS_DATA.replace("models", "b")})
    assert code == 1
    flagged = {(f["rule_id"], f["location"]["resource"]) for f in report["findings"]}
    assert flagged == {(r, "aws_s3_bucket.models") for r in _S3}
    assert set(report["rules_run"]) >= _S3


_AZURE_GOOGLE_DATA = """
data "azurerm_storage_account" "models" {
  name                = "acmemlmodels"
  resource_group_name = "ml"
}

data "azurerm_machine_learning_workspace" "ws" {
  name                = "ml-ws"
  resource_group_name = "ml"
}

data "azurerm_container_registry" "acr" {
  name                = "acmeml"
  resource_group_name = "ml"
}

data "azurerm_key_vault" "kv" {
  name                = "ml-kv"
  resource_group_name = "ml"
}

data "google_storage_bucket" "models" {
  name = "acme-ml-models"
}

data "google_kms_crypto_key" "ml" {
  name     = "ml-key"
  key_ring = "projects/p/locations/us/keyRings/ml"
}

data "azapi_resource" "registry" {
  type      = "Microsoft.MachineLearningServices/registries@2024-04-01"
  name      = "models"
  parent_id = "/subscriptions/0/resourceGroups/ml"
}
"""


def test_azure_and_google_data_sources_are_not_judged(tmp_path: Path) -> None:
    code, report = _scan(tmp_path, {"main.tf": _AZURE_GOOGLE_DATA})
    assert code == 0
    assert report["findings"] == [] and report["rules_run"] == []
    idle = set(report["rules_not_applicable"])
    assert {"MLSTIX-AZ-ST-001", "MLSTIX-AZ-ML-001", "MLSTIX-AZ-ACR-001"} <= idle
    assert {"MLSTIX-AZ-KV-001", "MLSTIX-AZ-REG-001", "MLSTIX-GCP-GCS-001"} <= idle


def test_kubernetes_provider_data_sources_are_not_read_as_objects(tmp_path: Path) -> None:
    """``data "kubernetes_pod_v1"`` reads a pod applied elsewhere: no Pod object for the
    Kubernetes rules (it counted as judged by MLSTIX-K8S-SRV-009 before)."""
    tf = """
data "kubernetes_pod_v1" "server" {
  metadata {
    name      = "model-server"
    namespace = "ml"
  }
}
"""
    root = write_tree(tmp_path / "iac", {"main.tf": tf})
    found = collect([root])
    assert [r.dialect for r in found.resources] == ["terraform"]
    code, report = _scan(tmp_path / "cli", {"main.tf": tf})
    assert code == 0 and report["rules_run"] == []


def _plan(
    resources: list[dict[str, Any]],
    changes: list[dict[str, Any]],
    child: list[dict[str, Any]] | None = None,
) -> str:
    root: dict[str, Any] = {"resources": resources}
    if child:
        root["child_modules"] = [{"address": "module.m", "resources": child}]
    return json.dumps(
        {
            "format_version": "1.2",
            "terraform_version": "1.9.5",
            "planned_values": {"root_module": root},
            "resource_changes": changes,
            "prior_state": {"format_version": "1.0", "values": {"root_module": {}}},
        },
        indent=1,
    )


_BUCKET_VALUES = {"bucket": "acme-ml-models", "object_lock_enabled": False}


def test_plan_data_sources_are_not_judged(tmp_path: Path) -> None:
    """A plan's data source (``mode: "data"``, in ``planned_values`` and, read at apply,
    in ``resource_changes`` with action ``read``) and, without ``mode``, by its address."""
    read = {
        "address": "data.aws_s3_bucket.models",
        "mode": "data",
        "type": "aws_s3_bucket",
        "name": "models",
        "change": {"actions": ["read"], "after": _BUCKET_VALUES, "after_unknown": {"arn": True}},
    }
    trimmed = {  # hand-trimmed JSON without "mode": the address says it is a data source
        "address": "module.m.data.aws_s3_bucket.other",
        "type": "aws_s3_bucket",
        "name": "other",
        "values": _BUCKET_VALUES,
    }
    shown = {k: read[k] for k in ("address", "mode", "type", "name")}
    plan = _plan([shown | {"values": _BUCKET_VALUES}], [read], [trimmed])
    code, report = _scan(tmp_path, {"plan.json": plan})
    assert code == 0
    assert report["findings"] == [] and report["rules_run"] == []
    assert set(report["rules_not_applicable"]) >= _S3


def test_plan_managed_bucket_still_fails(tmp_path: Path) -> None:
    managed = {
        "address": "aws_s3_bucket.models",
        "mode": "managed",
        "type": "aws_s3_bucket",
        "name": "models",
        "values": _BUCKET_VALUES,
    }
    change = {k: managed[k] for k in ("address", "mode", "type", "name")} | {
        "change": {"actions": ["create"], "after": _BUCKET_VALUES, "after_unknown": {}}
    }
    code, report = _scan(tmp_path, {"plan.json": _plan([managed], [change])})
    assert code == 1
    assert {f["rule_id"] for f in report["findings"]} == _S3


def test_a_policy_document_data_source_is_still_read_for_the_policy_that_attaches_it(
    tmp_path: Path,
) -> None:
    """Data sources are content for managed resources: the rules' context hands them out by
    :meth:`Context.reads`, never among the resources a rule judges."""
    tf = """
resource "aws_iam_policy" "p" {
  name   = "p"
  policy = data.aws_iam_policy_document.d.json
}
data "aws_iam_policy_document" "d" {
  statement {
    actions   = ["sagemaker:*"]
    resources = ["*"]
  }
}
"""
    found = collect([write_tree(tmp_path / "iac", {"main.tf": tf})])
    ctx = Context(tuple(found.resources))
    assert [r.address for r in ctx.resources] == ["aws_iam_policy.p"]
    assert ctx.of_type("terraform", "aws_iam_policy_document") == []
    docs = ctx.reads(found.resources[0].scope, "terraform", "aws_iam_policy_document")
    assert [d.address for d in docs] == ["data.aws_iam_policy_document.d"]
    registry = default_registry()
    out = evaluate_isolated(registry, [registry.get("MLSTIX-AWS-IAM-001")], found.resources, None)
    assert [f.location.resource for f in out.findings] == ["aws_iam_policy.p"]


def test_data_sources_in_json_syntax_and_in_a_child_module_are_not_judged(tmp_path: Path) -> None:
    files = {
        "main.tf.json": json.dumps(
            {
                "data": {"aws_s3_bucket": {"models": {"bucket": "acme-ml-models"}}},
                "resource": {"aws_s3_bucket": {"real": {"bucket": "acme-ml-models-2"}}},
                "module": {"store": {"source": "./store"}},
            }
        ),
        "store/main.tf": _AWS_DATA.replace('"models"', '"shared"'),
    }
    found = collect([write_tree(tmp_path / "read", files)])
    assert {r.address for r in found.resources if r.data} == {
        "data.aws_s3_bucket.models",
        "module.store.data.aws_s3_bucket.shared",
    }
    code, report = _scan(tmp_path, files)
    assert code == 1
    assert {f["location"]["resource"] for f in report["findings"]} == {"aws_s3_bucket.real"}
