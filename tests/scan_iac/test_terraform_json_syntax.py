"""Terraform's JSON syntax (``.tf.json``, what cdktf writes) and single-interpolation templates:
a string that is one ``${...}`` is the expression's value (a set for ``for_each``, not its string
form), and quotes inside an interpolation are part of the expression, not escaped text."""

from __future__ import annotations

import json
from pathlib import Path

from mlstix.scan.iac import collect
from mlstix.scan.iac._values import is_unknown
from mlstix.scan.iac.terraform import _hcl_template
from mlstix.scan.rules.iac import default_registry, evaluate


def test_hcl_template_of_json_strings() -> None:
    assert _hcl_template('${a == "x" ? 1 : 2}') == '"${a == "x" ? 1 : 2}"'
    assert _hcl_template('say "hi" ${upper("x}")} $${raw}') == (
        '"say \\"hi\\" ${upper("x}")} $${raw}"'
    )
    assert _hcl_template("${unclosed") == '"${unclosed"'  # left to the parser to refuse
    assert _hcl_template('a "${b ${c "d"') == '"a \\"${b ${c "d""'  # the rest as written
    assert _hcl_template("a\nb\\c") == '"a\\nb\\\\c"'


def test_cdktf_style_json(tmp_path: Path) -> None:
    doc = {
        "//": {"metadata": {"backend": "local"}},
        "variable": {"internet": {"default": "Enabled"}, "names": {"default": ["a", "b"]}},
        "locals": {"root": "Disabled"},
        "resource": {
            "aws_sagemaker_notebook_instance": {
                "nb": {
                    "for_each": "${toset(var.names)}",
                    "name": "nb-${each.key}",
                    "role_arn": "r",
                    "instance_type": "ml.t3.medium",
                    "direct_internet_access": '${each.key == "a" ? var.internet : "Disabled"}',
                    "root_access": "${local.root}",
                    "kms_key_id": "k",
                    "subnet_id": "s",
                }
            }
        },
    }
    (tmp_path / "cdk.tf.json").write_text(json.dumps(doc, indent=2))
    found = collect([tmp_path])
    assert not found.errors
    by_address = {r.address: r for r in found.resources}
    assert sorted(by_address) == [
        'aws_sagemaker_notebook_instance.nb["a"]',
        'aws_sagemaker_notebook_instance.nb["b"]',
    ]
    assert by_address['aws_sagemaker_notebook_instance.nb["a"]'].attributes["name"] == "nb-a"
    registry = default_registry()
    hits = evaluate(registry, [registry.get("MLSTIX-AWS-SM-001")], found.resources, None)
    assert [f.location.resource for f in hits] == ['aws_sagemaker_notebook_instance.nb["a"]']


def test_single_interpolation_keeps_the_value_in_native_syntax(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        """
variable "names" { default = ["x", "y"] }
variable "count_of" { default = 2 }
resource "aws_s3_bucket" "legacy" {
  for_each = "${toset(var.names)}"
  bucket   = "b-${each.value}"
}
resource "aws_s3_bucket" "counted" {
  count  = "${var.count_of}"
  bucket = "c-${count.index}"
  tags   = { n = "${var.count_of}", unknown = "${aws_s3_bucket.legacy["x"].arn}" }
}
"""
    )
    found = collect([tmp_path])
    assert not found.errors
    assert sorted(r.address for r in found.resources) == [
        "aws_s3_bucket.counted[0]",
        "aws_s3_bucket.counted[1]",
        'aws_s3_bucket.legacy["x"]',
        'aws_s3_bucket.legacy["y"]',
    ]
    counted = next(r for r in found.resources if r.address == "aws_s3_bucket.counted[1]")
    assert counted.attributes["bucket"] == "c-1"
    assert counted.attributes["tags"]["n"] == 2
    assert is_unknown(counted.attributes["tags"]["unknown"])


def test_dynamic_blocks_in_json_syntax(tmp_path: Path) -> None:
    def config(capture: bool) -> dict[str, object]:
        content = {
            "enable_capture": True,
            "initial_sampling_percentage": 100,
            "destination_s3_uri": "s3://capture",
            "kms_key_id": "k",
            "dynamic": {
                "capture_options": {
                    "for_each": '${["Input", "Output"]}',
                    "iterator": "mode",
                    "content": {"capture_mode": "${mode.value}"},
                }
            },
        }
        return {
            "variable": {"capture": {"default": capture}},
            "resource": {
                "aws_sagemaker_endpoint_configuration": {
                    "ep": {
                        "name": "ep",
                        "kms_key_arn": "k",
                        "production_variants": {
                            "variant_name": "main",
                            "model_name": "m",
                            "instance_type": "ml.m5.large",
                            "initial_instance_count": 1,
                        },
                        "dynamic": {
                            "data_capture_config": {
                                "for_each": "${var.capture ? [1] : []}",
                                "content": content,
                            }
                        },
                    }
                }
            },
        }

    registry = default_registry()
    for capture, expected in ((True, []), (False, ["aws_sagemaker_endpoint_configuration.ep"])):
        folder = tmp_path / str(capture)
        folder.mkdir()
        (folder / "main.tf.json").write_text(json.dumps(config(capture)))
        found = collect([folder])
        assert not found.errors
        hits = evaluate(registry, [registry.get("MLSTIX-AWS-DC-001")], found.resources, None)
        assert [f.location.resource for f in hits] == expected
        if capture:
            (ep,) = found.resources
            assert ep.attributes["data_capture_config"][0]["capture_options"] == [
                {"capture_mode": "Input"},
                {"capture_mode": "Output"},
            ]
