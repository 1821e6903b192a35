"""A control never passes on rules that judged nothing (issue 14).

``rules_run`` names the rules that judged at least one resource, ``rules_not_applicable`` those
that ran over inputs holding nothing they check. A control whose rules judged nothing is
not-applicable (or manual, where its rules could not pass it anyway); one judged on some of its
platforms and on nothing on others is not-assessed; reports written before
``rules_not_applicable`` existed still read, fail controls, and pass none.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from mlstix.benchmark._attest import Attestation
from mlstix.benchmark._catalog import CatalogRule
from mlstix.benchmark._reports import load_reports
from mlstix.benchmark._text import print_scorecard
from mlstix.benchmark.assess import ControlResult, Status, assess
from mlstix.cli.main import cli
from mlstix.kb.controls import Benchmark
from mlstix.kb.graph import KnowledgeBase

from .conftest import WriteReport, finding

IAM = "MLSTIX-AWS-IAM-001"  # the one rule of MLCS-6.1 (aws)
PRIVATE = ("MLSTIX-AWS-S3-004", "MLSTIX-AWS-S3L-001", "MLSTIX-AZ-ST-001", "MLSTIX-GCP-GCS-001")
AZURE_ONLY = ("MLCS-5.8", "MLCS-6.5", "MLCS-6.7", "MLCS-7.10")
GCP_ONLY = ("MLCS-5.5", "MLCS-6.8")

# a Terraform root module with AWS resources only: a versioned, private model bucket
_AWS_ONLY = """
resource "aws_s3_bucket" "models" {
  bucket = "acme-ml-models"
}

resource "aws_s3_bucket_versioning" "models" {
  bucket = aws_s3_bucket.models.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "models" {
  bucket                  = aws_s3_bucket.models.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
"""


def _results(
    bench: Benchmark,
    catalog: dict[str, CatalogRule],
    paths: list[Path],
    **kw: object,
) -> tuple[dict[str, ControlResult], tuple[str, ...]]:
    a = assess(bench, load_reports(paths), catalog, **kw)  # type: ignore[arg-type]
    return {r.control.id: r for r in a.results}, a.notes


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _scan_aws_only(tmp_path: Path) -> Path:
    (tmp_path / "iac").mkdir()
    (tmp_path / "iac" / "main.tf").write_text(_AWS_ONLY, encoding="utf-8")
    report = tmp_path / "iac.json"
    code, out = _invoke(
        "scan", "iac", str(tmp_path / "iac"), "--format", "json", "-o", str(report),
        "--fail-on", "none",
    )  # fmt: skip
    assert code == 0, out
    return report


def test_a_terraform_scan_of_aws_only_passes_no_azure_or_gcp_control(
    tmp_path: Path, bench: Benchmark, catalog: dict[str, CatalogRule]
) -> None:
    report = _scan_aws_only(tmp_path)
    results, _ = _results(bench, catalog, [report])
    for cid in (*AZURE_ONLY, *GCP_ONLY):
        r = results[cid]
        if all(catalog[rule].command == "mlstix scan iac" for rule in r.rules):
            assert r.status is Status.NOT_APPLICABLE, (cid, r.reason)
            assert "found no resource of the kinds they check" in r.reason
        else:  # MLCS-5.5: a live-only rule that no scan runs
            assert r.status is Status.NOT_ASSESSED, (cid, r.reason)
    # no control with an Azure, Google or Kubernetes rule passes on it
    for r in results.values():
        if any(catalog[rule].platform in ("azure", "gcp", "kubernetes") for rule in r.rules):
            assert r.status is not Status.PASS, (r.control.id, r.reason)
    # MLCS-4.1 (aws, gcp): the bucket is versioned, but nothing was judged on Google Cloud
    assert results["MLCS-4.1"].status is Status.NOT_ASSESSED
    assert "--platform aws" in results["MLCS-4.1"].reason
    assert "MLSTIX-GCP-GCS-002" in results["MLCS-4.1"].reason
    # scoped to AWS, the rule that judged the bucket and found nothing passes it
    results, _ = _results(bench, catalog, [report], platform="aws")
    assert results["MLCS-4.1"].status is Status.PASS, results["MLCS-4.1"].reason
    assert results["MLCS-6.3"].status is Status.PASS, results["MLCS-6.3"].reason
    assert results["MLCS-6.1"].status is Status.NOT_APPLICABLE  # no IAM policy in the module


def test_one_judged_resource_with_no_finding_passes(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    results, notes = _results(bench, catalog, [write_report(rules_run=[IAM])])
    assert results["MLCS-6.1"].status is Status.PASS and not notes
    results, _ = _results(bench, catalog, [write_report(not_applicable=[IAM])])
    assert results["MLCS-6.1"].status is Status.NOT_APPLICABLE
    assert results["MLCS-6.1"].rules_idle == (IAM,)
    assert IAM in results["MLCS-6.1"].reason
    # one report with nothing to judge, another that judged: the control was judged
    both = [write_report(not_applicable=[IAM]), write_report(rules_run=[IAM])]
    assert _results(bench, catalog, both)[0]["MLCS-6.1"].status is Status.PASS


def test_a_rule_with_nothing_to_judge_beside_one_that_judged_on_the_same_platform(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    """MLCS-6.3 on AWS: S3-004 judged the buckets, S3L-001 (buckets shared) too; with the
    Azure and Google rules idle, the control passes on --platform aws only."""
    path = write_report(rules_run=PRIVATE[:2], not_applicable=PRIVATE[2:])
    results, _ = _results(bench, catalog, [path])
    assert results["MLCS-6.3"].status is Status.NOT_ASSESSED
    assert "azure, gcp" in results["MLCS-6.3"].reason
    results, _ = _results(bench, catalog, [path], platform="aws")
    assert results["MLCS-6.3"].status is Status.PASS
    # two AWS rules, one with nothing to judge: the platform was still judged
    path = write_report(rules_run=PRIVATE[:1], not_applicable=PRIVATE[1:])
    result = _results(bench, catalog, [path], platform="aws")[0]["MLCS-6.3"]
    assert (
        result.status is Status.PASS and "MLSTIX-AWS-S3L-001 had nothing to judge" in result.reason
    )
    path = write_report(rules_run=PRIVATE)
    assert _results(bench, catalog, [path])[0]["MLCS-6.3"].status is Status.PASS


def test_nothing_to_judge_where_rules_cannot_pass_or_leave_platforms_is_manual(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    path = write_report(not_applicable=list(catalog))
    results, _ = _results(bench, catalog, [path])
    # MLCS-1.3: its Azure rule can fail it but not pass it
    assert results["MLCS-1.3"].status is Status.MANUAL
    assert "found no resource" in results["MLCS-1.3"].reason
    # MLCS-9.2: a Google rule only; on AWS and Azure the manual audit decides
    assert results["MLCS-9.2"].status is Status.MANUAL
    assert not any(r.status is Status.PASS for r in results.values())


def test_a_finding_or_an_attestation_outranks_nothing_to_judge(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    path = write_report([finding(IAM, "aws_iam_policy.all")], not_applicable=[IAM])
    assert _results(bench, catalog, [path])[0]["MLCS-6.1"].status is Status.FAIL
    attested = Attestation.model_validate(
        {"control": "MLCS-6.1", "result": "pass", "by": "Ana", "date": "2026-11-20",
         "evidence": "https://tickets.example.com/SEC-7"}
    )  # fmt: skip
    path = write_report(not_applicable=[IAM])
    result = _results(bench, catalog, [path], attestations={"MLCS-6.1": attested})[0]["MLCS-6.1"]
    assert result.status is Status.PASS and result.attested and not result.nothing_judged


def test_nothing_to_judge_in_a_report_that_could_not_read_every_input_is_not_assessed(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    path = write_report(not_applicable=[IAM])
    data = json.loads(path.read_text(encoding="utf-8"))
    data["errors"] = [{"path": "iam.tf", "message": "HCL syntax error at line 3"}]
    path.write_text(json.dumps(data), encoding="utf-8")
    result = _results(bench, catalog, [path])[0]["MLCS-6.1"]
    assert result.status is Status.NOT_ASSESSED and "could not read every input" in result.reason


def test_reports_written_before_rules_not_applicable_still_read_and_pass_nothing(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    old = write_report(rules_run=list(catalog), legacy=True)
    assert "rules_not_applicable" not in json.loads(old.read_text(encoding="utf-8"))
    results, notes = _results(bench, catalog, [old])
    assert not any(r.status is Status.PASS for r in results.values())
    assert results["MLCS-6.1"].status is Status.NOT_ASSESSED
    assert (
        "older mlstix" in results["MLCS-6.1"].reason and "scan again" in results["MLCS-6.1"].reason
    )
    assert any("before rules_not_applicable" in n for n in notes)
    # its findings still fail controls
    dirty = write_report([finding(IAM, "aws_iam_policy.all")], rules_run=[IAM], legacy=True)
    assert _results(bench, catalog, [dirty])[0]["MLCS-6.1"].status is Status.FAIL
    # beside a current report that judged the rule, the control passes
    both = [old, write_report(rules_run=[IAM])]
    assert _results(bench, catalog, both)[0]["MLCS-6.1"].status is Status.PASS


def test_the_reason_reaches_every_output(
    bench: Benchmark,
    catalog: dict[str, CatalogRule],
    kb: KnowledgeBase,
    write_report: WriteReport,
) -> None:
    path = write_report(rules_run=["MLSTIX-AWS-S3-001"], not_applicable=[IAM])
    why = f"its rules ({IAM}) found no resource of the kinds they check"
    buffer = io.StringIO()  # the terminal table, on a console wide enough not to wrap it
    result = assess(bench, load_reports([path]), catalog, platform="aws")
    style = dict.fromkeys((s.value for s in Status), "none")
    print_scorecard(result, kb, Console(file=buffer, width=1000, color_system=None), style)
    assert why in buffer.getvalue()
    for fmt in ("markdown", "html", "json"):
        code, out = _invoke("benchmark", "assess", str(path), "--platform", "aws", "--format", fmt)
        assert code == 0, out
        assert why in " ".join(out.split()).replace("&#x27;", "'"), fmt
    code, out = _invoke("benchmark", "assess", str(path), "--format", "json")
    by_id = {c["id"]: c for c in json.loads(out)["controls"]}
    assert by_id["MLCS-6.1"]["status"] == "not-applicable"
    assert by_id["MLCS-6.1"]["rules_not_applicable"] == [IAM]


def test_oscal_keeps_a_control_with_nothing_judged_in_scope_as_not_satisfied_with_a_remark(
    tmp_path: Path, write_report: WriteReport
) -> None:
    pytest.importorskip("trestle.oscal", reason="compliance-trestle is not installed")
    pytest.importorskip("jsonschema_rs", reason="jsonschema-rs validates NIST's schema")
    from .test_oscal import _schema_errors

    path = write_report(rules_run=["MLSTIX-AWS-S3-001"], not_applicable=[IAM])
    out = tmp_path / "ar.json"
    code, text = _invoke(
        "benchmark", "assess", str(path), "--platform", "aws", "--format", "oscal", "-o", str(out)
    )
    assert code == 0, text
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert _schema_errors(doc) == []
    result = doc["assessment-results"]["results"][0]
    findings = {f["target"]["target-id"]: f for f in result["findings"]}
    nothing = findings["mlcs-6.1_obj"]
    assert nothing["target"]["status"]["state"] == "not-satisfied"
    assert nothing["target"]["status"]["remarks"].startswith("Not applicable to the inputs")
    assert IAM in nothing["target"]["status"]["remarks"]
    assert any(p["name"] == "status" and p["value"] == "not-applicable" for p in nothing["props"])
    assert findings["mlcs-4.1_obj"]["target"]["status"] == {"state": "satisfied", "reason": "pass"}
    passed = {o["title"]: o for o in result["observations"]}["MLCS-4.1: its rules found nothing"]
    assert passed["description"].startswith("The rules MLSTIX-AWS-S3-001 judged the inputs")
    assert "remarks" in findings["mlcs-6.12_obj"]["target"]["status"]  # not assessed: says why
    # out of scope by platform: excluded, no finding
    excluded = result["reviewed-controls"]["control-selections"][0]["exclude-controls"]
    assert {"control-id": "mlcs-7.4"} in excluded and "mlcs-7.4_obj" not in findings
    assert {"control-id": "mlcs-6.1"} not in excluded
