"""Terraform override files (``override.tf``, ``*_override.tf``, ``.tf.json`` forms) merge into
the module as Terraform merges them ("Override Files" in the Terraform language docs): loaded
after every other file in lexical order, arguments replaced, nested block types replaced whole
(``dynamic "x"`` counting as type ``x``), ``lifecycle`` merged argument by argument, locals by
name, variables argument by argument; an override without an original is an errors entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlstix.scan.iac import collect
from mlstix.scan.iac._tfoverride import merge_body
from mlstix.scan.rules.iac import default_registry, evaluate
from tests.scan_iac.files import write_tree as _write

NB = """
resource "aws_sagemaker_notebook_instance" "nb" {
  name                   = "nb"
  role_arn               = "r"
  instance_type          = "ml.t3.medium"
  direct_internet_access = "Enabled"
  root_access            = "Disabled"
  kms_key_id             = "k"
  subnet_id              = "s"
}
"""


def _hits(found: Any) -> list[tuple[str, str]]:
    registry = default_registry()
    rules = [registry.get(r) for r in ("MLSTIX-AWS-SM-001", "MLSTIX-AWS-SM-002")]
    return sorted(
        (f.rule_id, f.location.resource or "")
        for f in evaluate(registry, rules, found.resources, None)
    )


def test_override_files_replace_arguments_in_lexical_order(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": NB,
            # loaded after main.tf whatever its name: turns internet access off
            "a_override.tf": 'resource "aws_sagemaker_notebook_instance" "nb" {\n'
            '  direct_internet_access = "Disabled"\n  root_access = "Enabled"\n}\n',
            # loaded last: gives root access back... and takes it away again
            "override.tf": 'resource "aws_sagemaker_notebook_instance" "nb" {\n'
            '  root_access = "Disabled"\n}\n',
            "z_override.tf.json": json.dumps(
                {
                    "resource": {
                        "aws_sagemaker_notebook_instance": {"nb": {"root_access": "Enabled"}}
                    }
                }
            ),
        },
    )
    found = collect([tmp_path])
    assert not found.errors
    assert [r.address for r in found.resources] == ["aws_sagemaker_notebook_instance.nb"]
    assert _hits(found) == [("MLSTIX-AWS-SM-002", "aws_sagemaker_notebook_instance.nb")]
    assert found.resources[0].line == 2  # the original block's line


def test_nested_blocks_are_replaced_whole_and_dynamic_counts_as_the_type(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
variable "rules" {
  default = [{ kms = "k1" }]
}
resource "aws_s3_bucket_server_side_encryption_configuration" "models" {
  bucket = "models"
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = "k0"
    }
    bucket_key_enabled = true
  }
  lifecycle {
    prevent_destroy       = true
    create_before_destroy = true
  }
}
""",
            "encryption_override.tf": """
resource "aws_s3_bucket_server_side_encryption_configuration" "models" {
  dynamic "rule" {
    for_each = var.rules
    content {
      apply_server_side_encryption_by_default {
        sse_algorithm = "AES256"
      }
    }
  }
  lifecycle {
    prevent_destroy = false
  }
}
""",
        },
    )
    found = collect([tmp_path])
    assert not found.errors
    (r,) = found.resources
    rules = r.attributes["rule"]
    assert rules == [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}]
    assert "lifecycle" not in r.attributes  # a meta-argument, not the resource's


def test_lifecycle_merges_argument_by_argument() -> None:
    base = {"a": 1, "lifecycle": [{"prevent_destroy": True, "create_before_destroy": True}]}
    merged = merge_body(base, {"lifecycle": [{"prevent_destroy": False}]})
    assert merged == {
        "a": 1,
        "lifecycle": [{"prevent_destroy": False, "create_before_destroy": True}],
    }
    dyn = {"dynamic": [{"rule": {"for_each": [], "content": [{}]}}], "rule": [{"x": 1}]}
    assert merge_body(dyn, {"rule": [{"y": 2}]}) == {"rule": [{"y": 2}]}
    # static and dynamic blocks of one type in the override both stay
    mixed = {"rule": [{"y": 2}], "dynamic": [{"rule": {"for_each": [], "content": [{}]}}]}
    assert merge_body({"rule": [{"x": 1}]}, mixed) == mixed
    assert merge_body({"dynamic": True}, {"dynamic": False}) == {"dynamic": False}  # attributes


def test_variables_locals_and_module_calls_merge(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
variable "internet" {
  type    = string
  default = "Enabled"
}
locals {
  root = "Enabled"
  name = "nb"
}
resource "aws_sagemaker_notebook_instance" "nb" {
  name                   = local.name
  role_arn               = "r"
  instance_type          = "ml.t3.medium"
  direct_internet_access = var.internet
  root_access            = local.root
  kms_key_id             = "k"
  subnet_id              = "s"
}
""",
            "override.tf": """
variable "internet" {
  default = "Disabled"
}
locals {
  root = "Disabled"
}
""",
        },
    )
    found = collect([tmp_path])
    assert not found.errors
    assert _hits(found) == []
    assert found.resources[0].attributes["name"] == "nb"


def test_an_override_without_an_original_is_an_error(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": NB,
            "override.tf": 'resource "aws_sagemaker_notebook_instance" "other" {\n'
            '  direct_internet_access = "Disabled"\n}\n',
        },
    )
    found = collect([tmp_path])
    assert [e.message for e in found.errors] == [
        "line 1: override of resource aws_sagemaker_notebook_instance other has no original"
    ]
    assert _hits(found) == [("MLSTIX-AWS-SM-001", "aws_sagemaker_notebook_instance.nb")]
