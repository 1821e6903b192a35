"""``mlstix assess aws`` with the real boto3 against moto in server mode (plus recorded responses
for the SageMaker APIs moto lacks): findings on real ARNs, read-only calls, credential and
permission failures, snapshots, artifact scanning, secrets kept out of every output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner, Result

from mlstix.cli.main import cli
from tests.assess.aws_support import ACCOUNT, Recorded
from tests.assess.conftest import ACCESS_KEY, REAL_GETADDRINFO, SECRET

SM = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
REGIONS = ["--region", "us-east-1", "--region", "eu-west-1"]

# the seeded misconfigurations (rule, resource): every one must be found
EXPECTED = {
    ("MLSTIX-AWS-SM-001", f"{SM}:notebook-instance/nb-insecure"),
    ("MLSTIX-AWS-SM-002", f"{SM}:notebook-instance/nb-insecure"),
    ("MLSTIX-AWS-SM-003", f"{SM}:notebook-instance/nb-insecure"),
    ("MLSTIX-AWS-SM-004", f"{SM}:notebook-instance/nb-insecure"),
    (
        "MLSTIX-AWS-SM-001",
        f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:notebook-instance/nb-insecure-w1",
    ),
    ("MLSTIX-AWS-SM-005", f"{SM}:model/model-insecure"),
    ("MLSTIX-AWS-SM-006", f"{SM}:model/model-insecure"),
    ("MLSTIX-AWS-SM-007", f"{SM}:endpoint-config/epc-insecure"),
    ("MLSTIX-AWS-DC-001", f"{SM}:endpoint-config/epc-insecure"),
    ("MLSTIX-AWS-DC-002", f"{SM}:endpoint-config/epc-registry"),
    ("MLSTIX-AWS-PRC-001", f"{SM}:processing-job/features"),
    ("MLSTIX-AWS-PRC-002", f"{SM}:processing-job/features"),
    ("MLSTIX-AWS-PRC-003", f"{SM}:processing-job/features"),
    ("MLSTIX-AWS-SM-008", f"{SM}:domain/d-studio-insecure"),
    ("MLSTIX-AWS-SM-009", f"{SM}:domain/d-studio-insecure"),
    ("MLSTIX-AWS-TRN-001", f"{SM}:training-job/train-insecure"),
    ("MLSTIX-AWS-TRN-002", f"{SM}:training-job/train-insecure"),
    ("MLSTIX-AWS-TRN-003", f"{SM}:training-job/train-insecure"),
    ("MLSTIX-AWS-TRN-004", f"{SM}:training-job/train-insecure"),
    ("MLSTIX-AWS-TRN-001", f"{SM}:pipeline/retrain"),
    ("MLSTIX-AWS-TRN-004", f"{SM}:pipeline/retrain"),
    ("MLSTIX-AWS-SMR-001", f"{SM}:endpoint/ep-registry"),
    ("MLSTIX-AWS-SMR-002", f"{SM}:model-package-group/fraud"),
    ("MLSTIX-AWS-S3-001", "arn:aws:s3:::ml-models-insecure"),
    ("MLSTIX-AWS-S3-002", "arn:aws:s3:::ml-models-insecure"),
    ("MLSTIX-AWS-S3-003", "arn:aws:s3:::ml-models-insecure"),
    ("MLSTIX-AWS-S3-004", "arn:aws:s3:::ml-models-insecure"),
    ("MLSTIX-AWS-S3-005", "arn:aws:s3:::ml-models-insecure"),
    ("MLSTIX-AWS-S3L-001", "arn:aws:s3:::ml-models-insecure"),
    ("MLSTIX-AWS-CT-002", "arn:aws:s3:::ml-models-insecure"),
    ("MLSTIX-AWS-CT-002", "arn:aws:s3:::ml-models-hardened"),
    ("MLSTIX-AWS-IAM-001", f"arn:aws:iam::{ACCOUNT}:role/sm-exec-wide"),
    ("MLSTIX-AWS-IAM-001", f"arn:aws:iam::{ACCOUNT}:user/ds-alice"),
    ("MLSTIX-AWS-IAM-003", f"arn:aws:iam::{ACCOUNT}:group/ml-platform"),
    ("MLSTIX-AWS-IAM-002", f"arn:aws:iam::{ACCOUNT}:role/sm-exec-wide"),
    ("MLSTIX-AWS-ECR-001", f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/inference-mutable"),
    ("MLSTIX-AWS-ECR-002", f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/inference-mutable"),
    ("MLSTIX-AWS-CT-001", f"aws://{ACCOUNT}/eu-west-1"),
    ("MLSTIX-AWS-GD-001", f"aws://{ACCOUNT}/eu-west-1"),
}
HARDENED = (
    f"{SM}:notebook-instance/nb-hardened",
    f"{SM}:model/model-hardened",
    f"{SM}:endpoint-config/epc-hardened",
    f"{SM}:training-job/train-hardened",
    f"{SM}:processing-job/features-hardened",
    f"arn:aws:iam::{ACCOUNT}:role/sm-exec-narrow",
    f"arn:aws:iam::{ACCOUNT}:user/ds-bob",
    f"arn:aws:iam::{ACCOUNT}:group/model-readers",
    f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/inference-locked",
    f"aws://{ACCOUNT}/us-east-1",
)


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _report(tmp_path: Path, *args: str, name: str = "report.json") -> tuple[Result, Any]:
    out = tmp_path / name
    result = _run("assess", *args, "--format", "json", "-o", str(out))
    report = json.loads(out.read_text()) if out.exists() else None
    return result, report


def _pairs(report: Any) -> set[tuple[str, str]]:
    return {(f["rule_id"], f["location"]["path"]) for f in report["findings"]}


def test_finds_every_seeded_misconfiguration_and_nothing_on_hardened(
    aws: Recorded, tmp_path: Path
) -> None:
    result, report = _report(tmp_path, "aws", *REGIONS)
    assert result.exit_code == 1, result.output
    assert report["errors"] == []
    found = _pairs(report)
    assert found >= EXPECTED, sorted(EXPECTED - found)
    lifecycle = sorted(p for r, p in found if r == "MLSTIX-AWS-LC-001")
    assert [p.split(":")[3] for p in lifecycle] == ["eu-west-1"], lifecycle  # not us-east-1's
    # us-east-1's detector has S3 Protection (features as GetDetector answers): no GD-002
    assert not [p for p in found if p[0] == "MLSTIX-AWS-GD-002"]
    # hardened resources: no finding; the one open KMS key is the capture key
    assert not [p for p in found if p[1] in HARDENED]
    kms = [f for f in report["findings"] if f["rule_id"] == "MLSTIX-AWS-KMS-001"]
    assert len(kms) == 1 and "allows *" in kms[0]["message"]
    # GetKeyRotationStatus: the models key rotates, the capture key does not
    rotation = [f for f in report["findings"] if f["rule_id"] == "MLSTIX-AWS-KMS-002"]
    assert [f["location"]["path"] for f in rotation] == [kms[0]["location"]["path"]]
    assert "automatic key rotation is off" in rotation[0]["message"]
    for f in report["findings"]:
        assert f["evidence"]["account"] == ACCOUNT
        assert f["vulnerability"] and f["courses_of_action"]
    model = next(f for f in report["findings"] if f["rule_id"] == "MLSTIX-AWS-SM-005")
    assert model["location"]["resource"] == "AWS::SageMaker::Model model-insecure"
    assert model["evidence"]["region"] == "us-east-1"
    assert "account 123456789012, us-east-1" in model["message"]
    assert "bucket sagemaker-sample-files is referenced but not in this account" in result.output
    assert "KMS key arn:aws:kms:us-east-1:210987654321:key/" in result.output
    assert not [p for p in found if "model-sample" in p[1] or "epc-partner" in p[1]]
    kinds = {s["kind"] for s in report["scanned"]}
    assert {
        "AWS::SageMaker::UserProfile",
        "AWS::SageMaker::NotebookInstanceLifecycleConfig",
    } <= kinds


def test_fail_on_critical_counts_only_the_public_bucket_and_sarif_renders(
    aws: Recorded, tmp_path: Path
) -> None:
    result = _run(
        "assess",
        "aws",
        "--region",
        "us-east-1",
        "--fail-on",
        "critical",
        "--format",
        "sarif",
        "-o",
        str(tmp_path / "r.sarif"),
    )
    assert result.exit_code == 1, result.output  # the public model bucket is critical
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    uris = {
        unquote(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in sarif["runs"][0]["results"]
    }
    assert f"{SM}:model/model-insecure" in uris
    levels = {
        unquote(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in sarif["runs"][0]["results"]
        if r["ruleId"] == "MLSTIX-AWS-S3L-001"
    }
    assert levels == {"arn:aws:s3:::ml-models-insecure"}


def test_collectors_call_only_read_operations(aws: Recorded) -> None:
    import boto3

    from mlstix.assess.aws import AwsOptions, ReadOnlyViolation, collect_aws

    calls: list[str] = []

    def audit(model: Any, **_: Any) -> None:
        calls.append(f"{model.service_model.service_name}:{model.name}")
        if not model.name.startswith(("List", "Describe", "Get")):
            raise AssertionError(f"write operation called: {model.name}")

    session = boto3.Session()
    session.events.register("before-call", audit)
    inventory, _ = collect_aws(AwsOptions(regions=("us-east-1", "eu-west-1"), session=session))
    assert inventory.errors == []
    assert len(calls) == inventory.calls > 40
    services = {c.split(":")[0] for c in calls}
    assert {
        "sagemaker",
        "s3",
        "s3control",
        "iam",
        "kms",
        "ecr",
        "cloudtrail",
        "guardduty",
        "sts",
    } <= services
    # docs/assess.md lists every permission the collectors use
    from mlstix.assess.aws._client import iam_action

    doc = (Path(__file__).parents[2] / "docs" / "assess.md").read_text()
    used = {iam_action(*c.split(":")) for c in calls if not c.startswith("sts:")}
    missing = used - _quoted(doc)
    assert not missing, f"docs/assess.md does not list {sorted(missing)}"
    # and the collector's own guard refuses a write on the clients it made
    session.events.unregister("before-call", audit)
    client = session.client("s3", region_name="us-east-1")
    with pytest.raises(ReadOnlyViolation, match="CreateBucket"):
        client.create_bucket(Bucket="must-not-exist")


def _quoted(text: str) -> set[str]:
    import re

    return set(re.findall(r'"([a-z0-9-]+:[A-Za-z]+)"', text))


def test_missing_credentials_exit_2_naming_the_chain(
    aws: Recorded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = _run("assess", "aws", "--region", "us-east-1", "-o", str(tmp_path / "r.json"))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "no AWS credentials found; boto3 tried: env, assume-role" in result.output
    assert "iam-role" in result.output
    assert not (tmp_path / "r.json").exists()


def test_unknown_profile_and_bad_region_exit_2(aws: Recorded) -> None:
    result = _run("assess", "aws", "--profile", "nope")
    assert result.exit_code == 2 and "no AWS profile named 'nope'" in result.output
    result = _run("assess", "aws", "--region", "moon-1")
    assert result.exit_code == 2 and "not a SageMaker region: moon-1" in result.output
    result = _run("assess", "aws", "--region", "us-east-1", "--all-regions")
    assert result.exit_code == 2 and "exclude each other" in result.output
    assert "Traceback" not in result.output


def test_expired_credentials_exit_2(aws: Recorded) -> None:
    aws.sts_error = "ExpiredToken"
    result = _run("assess", "aws", "--region", "us-east-1")
    assert result.exit_code == 2
    assert "AWS expired the credentials from env (ExpiredToken)" in result.output
    assert "Traceback" not in result.output


def test_access_denied_is_an_error_entry_and_the_rest_goes_on(
    aws: Recorded, tmp_path: Path
) -> None:
    aws.denied.add("SageMaker.ListNotebookInstances")
    result, report = _report(tmp_path, "aws", "--region", "us-east-1")
    assert result.exit_code == 2  # partly unreadable is never silently clean
    assert report["errors"] == [
        {
            "path": f"aws://{ACCOUNT}/us-east-1/sagemaker",
            "message": "ListNotebookInstances was denied (AccessDeniedException): grant "
            "sagemaker:ListNotebookInstances (docs/assess.md lists the read-only role)",
        }
    ]
    found = _pairs(report)
    assert ("MLSTIX-AWS-SM-005", f"{SM}:model/model-insecure") in found
    assert not any("notebook-instance/" in p for _, p in found)


def test_s3control_unreachable_is_an_error_not_a_guess(
    aws: Recorded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import socket

    monkeypatch.setattr(socket, "getaddrinfo", REAL_GETADDRINFO)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # an unreachable host need not be retried 8 times
    result, report = _report(tmp_path, "aws", "--region", "us-east-1")
    assert result.exit_code == 2
    assert any(
        e["path"].endswith("/s3control") and "GetPublicAccessBlock failed" in e["message"]
        for e in report["errors"]
    )
    # account-level settings unknown: the bucket's public access is not judged
    assert ("MLSTIX-AWS-S3-004", "arn:aws:s3:::ml-models-insecure") not in _pairs(report)
    assert ("MLSTIX-AWS-S3-001", "arn:aws:s3:::ml-models-insecure") in _pairs(report)


def test_snapshot_then_offline_evaluation(
    aws: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = tmp_path / "snap"
    result, live = _report(tmp_path, "aws", *REGIONS, "--snapshot-out", str(snap))
    assert result.exit_code == 1
    text = (snap / "snapshot.json").read_text()
    for secret in (SECRET, ACCESS_KEY, "hf_super_secret_value", "hunter2"):
        assert secret not in text
        assert secret not in result.output
    assert "<redacted by mlstix>" in text and '"MODEL_NAME": "bert"' in text
    # offline: no endpoint reachable, no credentials
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    result, offline = _report(tmp_path, "snapshot", str(snap), name="offline.json")
    assert result.exit_code == 1, result.output
    assert offline["findings"] == live["findings"]
    assert offline["scanned"] == live["scanned"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no snapshot at"),
        ("{not json", "not a JSON snapshot"),
        ('{"format": "mlstix-assess-snapshot", "version": 2}', "invalid snapshot at version"),
        ("[" * 100_000, "not a JSON snapshot"),
    ],
)
def test_bad_snapshot_exit_2(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "snapshot.json").write_text(content)
    result = _run("assess", "snapshot", str(tmp_path))
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_scan_artifacts_reports_the_pickle_on_the_serving_endpoint(
    aws: Recorded, tmp_path: Path
) -> None:
    result, report = _report(tmp_path, "aws", "--region", "us-east-1", "--scan-artifacts")
    # the hardened bucket denies requests without TLS, and the test endpoint is plain HTTP: its
    # artifact cannot be read, which is an error (exit 2), and the rest goes on
    assert result.exit_code == 2
    assert report["errors"] == [
        {
            "path": f"aws://{ACCOUNT}/us-east-1/s3",
            "message": "GetObject was denied (403): grant s3:GetObject (docs/assess.md lists "
            "the read-only role)",
        }
    ]
    art = [f for f in report["findings"] if f["evidence"].get("artifact")]
    assert art, report["findings"]
    on_endpoint = [f for f in art if f["location"]["path"] == f"{SM}:endpoint/ep-insecure"]
    assert on_endpoint and all(
        f["evidence"]["artifact"] == "s3://ml-models-insecure/model.tar.gz" for f in on_endpoint
    )
    assert any(f["vulnerability"] == "insecure-model-serialization" for f in on_endpoint)
    assert any(
        "os" in json.dumps(f["evidence"]) and "system" in json.dumps(f["evidence"])
        for f in on_endpoint
    )
    scanned = {s["path"] for s in report["scanned"]}
    assert "s3://ml-models-insecure/model.tar.gz" in scanned
    # the registry endpoint serves its model package's artifact
    assert "s3://ml-models-insecure/pkg.tar.gz" in scanned
    # the hardened endpoint's artifact is clean
    assert not [f for f in art if f["location"]["path"] == f"{SM}:endpoint/ep-hardened"]


def test_artifact_over_the_size_cap_is_noted_not_read(aws: Recorded, tmp_path: Path) -> None:
    result, report = _report(
        tmp_path, "aws", "--region", "us-east-1", "--scan-artifacts", "--max-artifact-size", "10"
    )
    assert "--max-artifact-size" in result.output and "not scanned" in result.output
    assert not [f for f in report["findings"] if f["evidence"].get("artifact")]
    result = _run("assess", "aws", "--max-artifact-size", "lots")
    assert result.exit_code == 2 and "not a size" in result.output
