"""Live assessments (``mlstix assess``) report ``rules_run`` with the meaning a scan does: the
IaC and live-only rules of the cloud that judged a collected resource; the rest are
``rules_not_applicable``."""

from __future__ import annotations

from mlstix.assess._evaluate import evaluate_inventory
from mlstix.assess._inventory import Inventory, live_resource
from mlstix.scan.iac.resource import Resource


def _region(name: str) -> Resource:
    return live_resource(
        provider="aws",
        type="MLSTIX::AWS::Region",
        name=name,
        ident=f"arn:aws:::123456789012:region/{name}",
        attributes={"Enabled": True},
        language="cloudformation",
        account="123456789012",
        region=name,
    )


def test_an_account_with_regions_and_one_bucket_runs_only_the_rules_that_judged_them() -> None:
    bucket = live_resource(
        provider="aws",
        type="AWS::S3::Bucket",
        name="acme-ml-models",
        ident="arn:aws:s3:::acme-ml-models",
        attributes={
            "BucketName": "acme-ml-models",
            "VersioningConfiguration": {"Status": "Enabled"},
        },
        language="cloudformation",
        account="123456789012",
        region="eu-west-1",
    )
    inventory = Inventory(cloud="aws", target="123456789012", regions=("eu-west-1",))
    inventory.add(_region("eu-west-1"))
    inventory.add(bucket)
    report = evaluate_inventory(inventory, None)
    run, idle = set(report.rules_run), set(report.rules_not_applicable)
    assert not run & idle
    # regions judged by the trail and GuardDuty rules, the bucket by the S3 rules
    assert {"MLSTIX-AWS-CT-001", "MLSTIX-AWS-GD-001", "MLSTIX-AWS-S3-001"} <= run
    # nothing for the endpoint, registry, detector and IAM rules to judge
    assert {"MLSTIX-AWS-SMR-001", "MLSTIX-AWS-SMR-002", "MLSTIX-AWS-GD-002"} <= idle
    assert {"MLSTIX-AWS-IAM-001", "MLSTIX-AWS-SM-001"} <= idle
    assert not {r for r in run | idle if not r.startswith("MLSTIX-AWS-")}  # AWS rules only
    data = report.to_json()
    assert data["rules_not_applicable"] == sorted(idle)


def test_a_bucket_that_holds_no_models_gives_the_model_bucket_rules_nothing_to_judge() -> None:
    logs = live_resource(
        provider="aws",
        type="AWS::S3::Bucket",
        name="acme-access-logs",
        ident="arn:aws:s3:::acme-access-logs",
        attributes={"BucketName": "acme-access-logs"},
        language="cloudformation",
        account="123456789012",
        region="eu-west-1",
    )
    inventory = Inventory(cloud="aws", target="123456789012", regions=("eu-west-1",))
    inventory.add(_region("eu-west-1"))
    inventory.add(logs)
    report = evaluate_inventory(inventory, None)
    assert {"MLSTIX-AWS-CT-002", "MLSTIX-AWS-S3-001", "MLSTIX-AWS-S3L-001"} <= set(
        report.rules_not_applicable
    )
    assert "MLSTIX-AWS-CT-001" in report.rules_run  # the region was judged


def _detector(region: str, features: list[dict[str, str]] | None, enable: bool = True) -> Resource:
    attrs: dict[str, object] = {"Enable": enable, "Status": "ENABLED" if enable else "DISABLED"}
    if features is not None:
        attrs["Features"] = features
    return live_resource(
        provider="aws",
        type="AWS::GuardDuty::Detector",
        name=f"d-{region}",
        ident=f"arn:aws:guardduty:{region}:123456789012:detector/d-{region}",
        attributes=attrs,
        language="cloudformation",
        account="123456789012",
        region=region,
    )


def _model_bucket(region: str) -> Resource:
    return live_resource(
        provider="aws",
        type="AWS::S3::Bucket",
        name=f"acme-ml-models-{region}",
        ident=f"arn:aws:s3:::acme-ml-models-{region}",
        attributes={"BucketName": f"acme-ml-models-{region}"},
        language="cloudformation",
        account="123456789012",
        region=region,
    )


_ON = [{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}]


def test_guardduty_s3_protection_judges_only_detectors_where_model_buckets_live() -> None:
    """MLSTIX-AWS-GD-002 judges an enabled detector with a known S3 Protection status in a region
    holding model buckets; a detector elsewhere, a disabled one (GD-001's) or one whose status
    GuardDuty did not answer is not judged."""
    regions = ("eu-west-1", "us-east-1", "us-west-2", "ap-south-1")
    cases = [
        (_detector("eu-west-1", _ON), [_model_bucket("eu-west-1")], True),
        (_detector("us-east-1", _ON), [], False),  # no model bucket in the region
        (_detector("us-west-2", _ON, enable=False), [_model_bucket("us-west-2")], False),
        (_detector("ap-south-1", None), [_model_bucket("ap-south-1")], False),  # not answered
    ]
    for detector, buckets, judged in cases:
        region = str(detector.extra.get("region"))
        inventory = Inventory(cloud="aws", target="123456789012", regions=regions)
        inventory.add(_region(region))
        inventory.add(detector)
        for bucket in buckets:
            inventory.add(bucket)
        report = evaluate_inventory(inventory, None)
        assert not [f for f in report.findings if f.rule_id == "MLSTIX-AWS-GD-002"]
        assert ("MLSTIX-AWS-GD-002" in report.rules_run) is judged, region
        assert ("MLSTIX-AWS-GD-002" in report.rules_not_applicable) is not judged, region
