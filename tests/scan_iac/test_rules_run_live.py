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
