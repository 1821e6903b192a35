"""Plan JSON: ``after_unknown`` flags inside nested blocks and lists make those values unknown
(a capture key known only after apply is not "no key"); a resource the plan deletes is not in
``planned_values`` and is not reported."""

from __future__ import annotations

import json
from pathlib import Path

from mlstix.scan.iac import collect
from mlstix.scan.iac._values import is_unknown
from mlstix.scan.rules.iac import default_registry, evaluate

AFTER = {
    "name": "ep",
    "kms_key_arn": None,
    "production_variants": [
        {"variant_name": "main", "instance_type": "ml.m5.large", "model_name": "m"}
    ],
    "data_capture_config": [
        {
            "enable_capture": True,
            "initial_sampling_percentage": 100,
            "destination_s3_uri": "s3://capture",
            "kms_key_id": None,
            "capture_options": [{"capture_mode": "Input"}],
        }
    ],
    "tags": {"team": "ml"},
    "security_groups": [],
}
UNKNOWN = {
    "kms_key_arn": True,
    "data_capture_config": [{"kms_key_id": True, "capture_options": [{}]}],
    "production_variants": [{}],
    "security_groups": [True, True],
}


def _plan(capture_key_unknown: bool) -> dict[str, object]:
    unknown = UNKNOWN if capture_key_unknown else {**UNKNOWN, "data_capture_config": [{}]}
    res = {
        "address": "aws_sagemaker_endpoint_configuration.ep",
        "mode": "managed",
        "type": "aws_sagemaker_endpoint_configuration",
        "name": "ep",
        "provider_name": "registry.terraform.io/hashicorp/aws",
    }
    old = {**res, "address": "aws_sagemaker_notebook_instance.old", "name": "old"}
    old["type"] = "aws_sagemaker_notebook_instance"
    return {
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": [{**res, "values": AFTER}]}},
        "resource_changes": [
            {**res, "change": {"actions": ["create"], "after": AFTER, "after_unknown": unknown}},
            {
                **old,
                "change": {
                    "actions": ["delete"],
                    "before": {"direct_internet_access": "Enabled", "root_access": "Enabled"},
                    "after": None,
                    "after_unknown": {},
                },
            },
        ],
    }


def _dc002(tmp_path: Path, capture_key_unknown: bool) -> tuple[list[str], object]:
    folder = tmp_path / str(capture_key_unknown)
    folder.mkdir()
    (folder / "plan.json").write_text(json.dumps(_plan(capture_key_unknown)))
    found = collect([folder])
    assert not found.errors
    assert [r.address for r in found.resources] == ["aws_sagemaker_endpoint_configuration.ep"]
    registry = default_registry()
    hits = evaluate(registry, [registry.get("MLSTIX-AWS-DC-002")], found.resources, None)
    return [f.location.resource or "" for f in hits], found.resources[0].attributes


def test_unknown_inside_nested_blocks(tmp_path: Path) -> None:
    hits, attrs = _dc002(tmp_path, capture_key_unknown=True)
    assert hits == []
    assert isinstance(attrs, dict)
    assert is_unknown(attrs["data_capture_config"][0]["kms_key_id"])
    assert attrs["data_capture_config"][0]["capture_options"] == [{"capture_mode": "Input"}]
    assert [is_unknown(v) for v in attrs["security_groups"]] == [True, True]
    hits, _ = _dc002(tmp_path, capture_key_unknown=False)
    assert hits == ["aws_sagemaker_endpoint_configuration.ep"]  # known: no key
