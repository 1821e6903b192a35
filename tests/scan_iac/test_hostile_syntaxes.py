"""Fuzzing of the readers added for Terraform's JSON syntax (templates of JSON strings, dynamic
blocks), override files, plan ``after_unknown`` and nested stacks: whatever the input, an errors
entry or resources, never an exception."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlstix.scan.iac import collect
from mlstix.scan.iac._tfoverride import merge_body
from mlstix.scan.rules.iac import default_registry, evaluate

_FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_BITS = st.sampled_from(
    ["${", "}", "%{", "{", '"', "\\", " if ", " endif ", "var.l", "each.key", "a", "$${", " ",
     "[1]", "==", "?", ":", "dynamic", "content", "for_each"]
)  # fmt: skip
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.lists(_BITS).map("".join))
_JSON = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["dynamic", "content", "for_each", "iterator", "rule", "x"]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=12,
)


@_FUZZ
@given(body=_JSON, unknown=_JSON)
def test_tf_json_plan_and_override_never_raise(
    tmp_path: Path, body: object, unknown: object
) -> None:
    (tmp_path / "tf").mkdir(exist_ok=True)
    doc = {"variable": {"l": {"default": [1]}}, "resource": {"aws_s3_bucket": {"b": body}}}
    (tmp_path / "tf" / "main.tf.json").write_text(json.dumps(doc))
    (tmp_path / "tf" / "x_override.tf.json").write_text(json.dumps(doc))
    plan = {
        "format_version": "1.2",
        "planned_values": {
            "root_module": {
                "resources": [
                    {"address": "aws_s3_bucket.b", "type": "aws_s3_bucket", "name": "b",
                     "values": body if isinstance(body, dict) else {"v": body}}
                ]
            }
        },
        "resource_changes": [
            {"address": "aws_s3_bucket.b", "change": {"after_unknown": unknown}}
        ],
    }  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    found = collect([tmp_path])
    registry = default_registry()
    evaluate(registry, list(registry), found.resources, None)


@_FUZZ
@given(base=_JSON, override=_JSON)
def test_merge_body_never_raises(base: object, override: object) -> None:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = merge_body(base, override)
        assert set(override) - {"dynamic"} <= set(merged)


@_FUZZ
@given(params=_JSON, url=st.sampled_from(["c.yaml", "./c.yaml", "../c.yaml", "", "s3://x/c"]))
def test_nested_stacks_never_raise(tmp_path: Path, params: object, url: str) -> None:
    parent = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "S": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": url, "Parameters": params},
            }
        },
    }
    child = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"P": {"Type": "String", "Default": "Enabled"}},
        "Resources": {
            "Nb": {
                "Type": "AWS::SageMaker::NotebookInstance",
                "Properties": {"DirectInternetAccess": {"Ref": "P"}},
            }
        },
    }
    (tmp_path / "p.json").write_text(json.dumps(parent))
    (tmp_path / "c.yaml").write_text(json.dumps(child))
    found = collect([tmp_path])
    registry = default_registry()
    evaluate(registry, list(registry), found.resources, None)
