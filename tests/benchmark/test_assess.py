"""benchmark assess: control decisions from real JSON reports and attestations, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.benchmark._attest import Attestation, AttestedResult
from mlstix.benchmark._catalog import CatalogRule
from mlstix.benchmark._reports import load_reports
from mlstix.benchmark.assess import Status, assess
from mlstix.cli.main import cli
from mlstix.kb.controls import Benchmark
from mlstix.kb.graph import KnowledgeBase

from .conftest import WriteReport, finding

# MLCS-4.1: S3 and GCS versioning, judged for aws and gcp by two IaC rules
VERSIONING = ("MLSTIX-AWS-S3-001", "MLSTIX-GCP-GCS-002")


def _result(bench: Benchmark, catalog: dict[str, CatalogRule], paths: list[Path], **kw: object):  # type: ignore[no-untyped-def]
    a = assess(bench, load_reports(paths), catalog, **kw)  # type: ignore[arg-type]
    return {r.control.id: r for r in a.results}, a


def test_pass_needs_every_rule_to_have_run(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    only_aws = write_report(rules_run=[VERSIONING[0]])
    both = write_report(rules_run=VERSIONING)
    results, _ = _result(bench, catalog, [only_aws])
    assert results["MLCS-4.1"].status is Status.NOT_ASSESSED
    assert results["MLCS-4.1"].rules_not_run == (VERSIONING[1],)
    assert "mlstix scan iac" in results["MLCS-4.1"].reason
    results, _ = _result(bench, catalog, [both])
    assert results["MLCS-4.1"].status is Status.PASS
    # with --platform aws only the AWS rule decides
    results, _ = _result(bench, catalog, [only_aws], platform="aws")
    assert results["MLCS-4.1"].status is Status.PASS


def test_a_finding_fails_the_control_and_names_the_resource(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    path = write_report([finding(VERSIONING[0], "aws_s3_bucket.weights")], rules_run=VERSIONING)
    results, a = _result(bench, catalog, [path])
    r = results["MLCS-4.1"]
    assert r.status is Status.FAIL
    assert [f.finding.location.resource for f in r.failures] == ["aws_s3_bucket.weights"]
    assert r.failures[0].report == str(path)
    assert a.failed


def test_an_old_report_without_rules_run_can_fail_but_never_pass(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    clean = write_report(rules_run=None)
    results, a = _result(bench, catalog, [clean])
    assert all(r.status is not Status.PASS for r in results.values())
    assert any("does not say which rules ran" in n for n in a.notes)
    dirty = write_report([finding(VERSIONING[1])], rules_run=None)
    results, _ = _result(bench, catalog, [dirty])
    assert results["MLCS-4.1"].status is Status.FAIL


def test_platform_and_level_filters(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    path = write_report(rules_run=list(catalog))
    results, _ = _result(bench, catalog, [path], platform="aws")
    assert results["MLCS-7.4"].status is Status.NOT_APPLICABLE  # kubernetes only
    assert results["MLCS-7.4"].reason == "applies to kubernetes only"
    results, _ = _result(bench, catalog, [path], level=1)
    assert results and all(r.control.level == 1 for r in results.values())


def test_a_control_judged_for_some_platforms_only_stays_manual_for_the_rest(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    """MLCS-9.2 (inference requests logged with the caller) has a rule for Google Cloud only
    (Vertex AI Data Access logs); AWS and Azure need a reviewer."""
    path = write_report(rules_run=list(catalog))
    results, _ = _result(bench, catalog, [path])
    assert results["MLCS-9.2"].status is Status.MANUAL
    assert "aws, azure" in results["MLCS-9.2"].reason
    results, _ = _result(bench, catalog, [path], platform="gcp")
    assert results["MLCS-9.2"].status is Status.PASS


@pytest.mark.parametrize(
    ("control", "can_pass_on"),
    [
        ("MLCS-9.6", {"aws"}),  # the Azure and GCP rules read part of what it asks
        ("MLCS-9.5", set()),  # GuardDuty on and S3 Protection on; Runtime Monitoring unread
        ("MLCS-9.3", set()),  # data capture on; the monitoring schedule unread
        ("MLCS-8.3", set()),  # the served package is approved; the pipeline gate unread
        ("MLCS-6.13", set()),  # a private endpoint on key auth runs both rules clean
    ],
)
def test_clean_rules_pass_a_control_only_where_they_read_all_it_asks(
    bench: Benchmark,
    catalog: dict[str, CatalogRule],
    write_report: WriteReport,
    control: str,
    can_pass_on: set[str],
) -> None:
    path = write_report(rules_run=list(catalog))
    results, _ = _result(bench, catalog, [path])
    assert results[control].status is Status.MANUAL, results[control].reason
    assert "cannot show it is met" in results[control].reason
    for platform in (p.value for p in bench.control(control).platforms):
        results, _ = _result(bench, catalog, [path], platform=platform)
        expected = Status.PASS if platform in can_pass_on else Status.MANUAL
        assert results[control].status is expected, (platform, results[control].reason)
    if can_pass_on:
        rest = sorted(
            p.value for p in bench.control(control).platforms if p.value not in can_pass_on
        )
        results, _ = _result(bench, catalog, [path])
        assert ", ".join(rest) in results[control].reason
    # and a finding of any of its rules still fails it
    rule = bench.control(control).audit.rules[-1]
    dirty = write_report([finding(rule)], rules_run=list(catalog))
    results, _ = _result(bench, catalog, [dirty])
    assert results[control].status is Status.FAIL


def _attest(control: str, result: str, **extra: str) -> Attestation:
    return Attestation.model_validate(
        {"control": control, "result": result, "by": "Ana Auditor", "date": "2026-11-20",
         "evidence": "https://tickets.example.com/SEC-1", **extra}
    )  # fmt: skip


def test_attestations_decide_manual_controls_but_never_hide_a_failure(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    path = write_report([finding(VERSIONING[0])], rules_run=VERSIONING)
    attestations = {
        "MLCS-8.2": _attest("MLCS-8.2", "pass"),
        "MLCS-9.1": _attest("MLCS-9.1", "fail"),
        "MLCS-4.1": _attest("MLCS-4.1", "pass"),
        "MLCS-7.9": _attest("MLCS-7.9", "not-applicable"),
    }
    results, _ = _result(bench, catalog, [path], attestations=attestations)
    assert results["MLCS-8.2"].status is Status.PASS and results["MLCS-8.2"].attested
    assert results["MLCS-9.1"].status is Status.FAIL
    assert results["MLCS-4.1"].status is Status.FAIL  # the finding wins
    assert "overrides the attestation" in results["MLCS-4.1"].reason
    assert results["MLCS-7.9"].status is Status.NOT_APPLICABLE
    assert results["MLCS-6.10"].status is Status.MANUAL  # nobody attested it
    assert _attest("MLCS-1.1", "pass").result is AttestedResult.PASS


def test_rules_that_can_fail_but_not_pass_a_control_leave_the_pass_to_a_reviewer(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    """MLCS-1.3 (Notary Project signatures on workspace images): MLSTIX-AZ-ACR-002 finds a
    registry still on Docker Content Trust, but no registry setting shows images are signed."""
    rule = "MLSTIX-AZ-ACR-002"
    assert not bench.control("MLCS-1.3").audit.rules_can_pass
    clean = write_report(rules_run=[rule])
    results, _ = _result(bench, catalog, [clean], platform="azure")
    assert results["MLCS-1.3"].status is Status.MANUAL
    assert "cannot show it is met" in results["MLCS-1.3"].reason
    attested = {"MLCS-1.3": _attest("MLCS-1.3", "pass")}
    results, _ = _result(bench, catalog, [clean], platform="azure", attestations=attested)
    assert results["MLCS-1.3"].status is Status.PASS and results["MLCS-1.3"].attested
    dirty = write_report([finding(rule, "azurerm_container_registry.ws")], rules_run=[rule])
    results, _ = _result(bench, catalog, [dirty], platform="azure", attestations=attested)
    assert results["MLCS-1.3"].status is Status.FAIL


def test_a_finding_of_a_rule_no_control_knows_is_noted(write_report: WriteReport) -> None:
    """A report of another mlstix version (or of `detect`) passed its controls while one of
    its findings was judged by nothing, and nobody was told."""
    path = write_report([finding("MLSTIX-AWS-NOPE-1")], rules_run=VERSIONING)
    code, out, err = _run("assess", str(path), "--format", "json")
    assert code == 0
    note = (
        f"{path} has findings of rules that decide no control (MLSTIX-AWS-NOPE-1): they fail "
        "nothing here"
    )
    assert note in " ".join(err.split())
    assert any(n.startswith(note) for n in json.loads(out)["notes"])


# ---- the command ---------------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["benchmark", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_exit_codes_and_json_scorecard(write_report: WriteReport, tmp_path: Path) -> None:
    clean = write_report(rules_run=VERSIONING)
    code, out, _ = _run("assess", str(clean), "--format", "json")
    assert code == 0
    data = json.loads(out)
    by_id = {c["id"]: c for c in data["controls"]}
    assert by_id["MLCS-4.1"]["status"] == "pass"
    assert {g["title"] for g in data["by_level"]} == {"Level 1", "Level 2"}
    assert sum(data["summary"]["counts"].values()) == len(data["controls"])
    dirty = write_report([finding(VERSIONING[0])], rules_run=VERSIONING)
    code, out, _ = _run("assess", str(dirty), "--format", "json")
    assert code == 1
    assert json.loads(out)["controls"][0]["id"] == "MLCS-1.1"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "is not JSON"),
        ('{"findings": [{"rule_id": 1}]}', "is not an mlstix JSON report"),
        ('{"findings": [], "rules_run": "MLSTIX-AWS-S3-001"}', "field rules_run"),
    ],
)
def test_cli_bad_reports_are_one_line_and_exit_2(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "card.html"
    code, _, stderr = _run("assess", str(path), "--format", "html", "-o", str(out))
    assert code == 2
    assert expected in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_cli_missing_report_and_no_input(tmp_path: Path) -> None:
    code, _, err = _run("assess", str(tmp_path / "nope.json"))
    assert code == 2 and "nope.json: no such file or directory" in err
    code, _, err = _run("assess", str(tmp_path))
    assert code == 2 and "is a folder" in err
    code, _, err = _run("assess")
    assert code == 2 and "nothing to assess" in err


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("attestations: [{control: MLCS-99.1, result: pass}]", "field attestations.0"),
        (
            "attestations: [{control: MLCS-9.9, result: pass, by: a, date: 2026-01-01, "
            "evidence: x}]",
            "no control MLCS-9.9",
        ),
        (
            "attestations: [{control: MLCS-9.1, result: maybe, by: a, date: 2026-01-01, "
            "evidence: x}]",
            "field attestations.0.result",
        ),
        (
            "attestations: [{control: MLCS-9.1, result: pass, by: a, date: 2999-01-01, "
            "evidence: x}]",
            "is in the future",
        ),
        ("attestations: [{control: MLCS-9.1", "not valid YAML"),
        ("- just a list", "field (top level)"),
        # a date that matches YAML's timestamp pattern but is no day: was a ValueError traceback
        (
            "attestations:\n  - {control: MLCS-9.1, result: pass, by: a, date: 2026-02-30, "
            "evidence: x}",
            "line 2, column 52: '2026-02-30' is not a valid timestamp: day is out of range",
        ),
    ],
)
def test_cli_bad_attestation_files(
    tmp_path: Path, write_report: WriteReport, yaml_text: str, expected: str
) -> None:
    path = tmp_path / "attest.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    code, _, err = _run("assess", str(write_report()), "--attest", str(path))
    assert code == 2
    assert expected in err and "Traceback" not in err


def test_cli_attestation_file_and_expiry(tmp_path: Path, write_report: WriteReport) -> None:
    path = tmp_path / "attest.yaml"
    path.write_text(
        "attestations:\n"
        "  - {control: MLCS-8.2, result: pass, by: Ana, date: 2026-01-05, evidence: SEC-1}\n"
        "  - {control: MLCS-8.3, result: pass, by: Ana, date: 2025-01-05, evidence: SEC-2,\n"
        "     expires: 2025-06-30}\n",
        encoding="utf-8",
    )
    code, out, err = _run("assess", "--attest", str(path), "--format", "json")
    assert code == 0
    by_id = {c["id"]: c for c in json.loads(out)["controls"]}
    assert by_id["MLCS-8.2"]["status"] == "pass"
    assert by_id["MLCS-8.2"]["attestation"]["evidence"] == "SEC-1"
    assert by_id["MLCS-8.3"]["status"] != "pass"
    assert "expired on 2025-06-30" in err


def test_html_scorecard_escapes_report_text_and_works_offline(
    write_report: WriteReport, tmp_path: Path
) -> None:
    hostile = finding(VERSIONING[0], '<img src=x onerror="alert(1)">', "<script>alert(1)</script>")
    path = write_report([hostile], rules_run=VERSIONING)
    out = tmp_path / "card.html"
    code, _, _ = _run("assess", str(path), "--format", "html", "-o", str(out))
    assert code == 1
    html = out.read_text(encoding="utf-8")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "default-src 'none'" in html
    assert 'id="MLCS-4.1"' in html


def test_markdown_and_table_scorecards(write_report: WriteReport, tmp_path: Path) -> None:
    path = write_report([finding(VERSIONING[0], "aws_s3_bucket.a|b")], rules_run=VERSIONING)
    code, out, _ = _run("assess", str(path), "--format", "markdown")
    assert code == 1
    assert "| MLCS-4.1 | 1 | **fail** |" in out
    assert "aws\\_s3\\_bucket.a\\|b" in out  # table cells cannot be broken by report text
    out_file = tmp_path / "card.txt"
    code, _, _ = _run("assess", str(path), "--format", "table", "-o", str(out_file))
    assert code == 1 and "MLCS-4.1" in out_file.read_text(encoding="utf-8")


def test_show_and_list(bench: Benchmark) -> None:
    code, out, _ = _run("show", "mlcs-3.1")
    assert code == 0 and "models/no-provenance" in out and "SR-4" in out
    code, _, err = _run("show", "MLCS-0.1")
    assert code == 2 and "no control" in err
    code, out, _ = _run("show", "MLCS-9.6")
    assert code == 0 and "passes it on aws only" in " ".join(out.split())
    code, out, _ = _run("show", "MLCS-9.5")
    assert code == 0 and "a pass needs the manual audit" in " ".join(out.split())
    code, out, _ = _run("list", "--format", "json", "--level", "1", "--platform", "kubernetes")
    rows = json.loads(out)
    assert rows and all(r["level"] == 1 for r in rows)
    assert {r["id"] for r in rows} == {c.id for c in bench.select(1, "kubernetes")}


def test_oscal_without_the_extra_names_it_and_writes_nothing(
    write_report: WriteReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    for name in [m for m in sys.modules if m == "trestle" or m.startswith("trestle.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delitem(sys.modules, "mlstix.benchmark.oscal", raising=False)
    monkeypatch.setitem(sys.modules, "trestle", None)
    out = tmp_path / "ar.json"
    code, _, err = _run("assess", str(write_report()), "--format", "oscal", "-o", str(out))
    assert code == 2
    assert "mlstix[benchmark]" in err and "Traceback" not in err
    assert not out.exists()


def test_demo_step_assesses_the_example_iac(repo_root: Path, kb: KnowledgeBase) -> None:
    """What `make demo` prints after its scans: failing controls with the example resources."""
    import io

    from rich.console import Console

    from mlstix.benchmark.demo import print_demo_scorecard
    from mlstix.findings.model import Report
    from mlstix.scan.iac import collect
    from mlstix.scan.rules.iac import default_registry, evaluate_isolated

    found = collect([repo_root / "examples" / "iac"])
    registry = default_registry()
    judged = evaluate_isolated(registry, list(registry), found.resources, kb)
    report = Report.build(
        "iac",
        found.scanned,
        judged.findings,
        found.errors,
        rules_run=judged.ran(registry),
        rules_not_applicable=judged.not_applicable(registry),
    )
    buffer = io.StringIO()
    print_demo_scorecard({"scan iac": report}, kb, Console(file=buffer, width=200))
    text = buffer.getvalue()
    assert "MLCS-7.4" in text and "kserve.yaml" in text  # privileged KServe predictor
    assert "MLCS-4.1" in text and "aws_s3_bucket.models" in text
    assert "by course of action" in text and "score " in text
    # the examples hold no IAM, ECR, pipeline, Azure or Google resource: nothing passes on them
    from mlstix.benchmark._catalog import rule_catalog
    from mlstix.benchmark._reports import ReportInput
    from mlstix.kb.controls import load_benchmark

    inputs = [
        ReportInput(
            "scan iac",
            report.findings,
            frozenset(report.rules_run),
            len(report.scanned),
            (),
            frozenset(report.rules_not_applicable),
        )
    ]
    catalog = rule_catalog()
    results = {r.control.id: r for r in assess(load_benchmark(kb), inputs, catalog).results}
    assert results["MLCS-6.1"].status is Status.NOT_APPLICABLE
    for r in results.values():
        if r.status is Status.PASS:
            assert all(catalog[rule].platform in ("aws", "kubernetes") for rule in r.rules), r


def test_end_to_end_from_a_scan_iac_json_report(repo_root: Path, tmp_path: Path) -> None:
    """scan iac writes rules_run into its JSON report; benchmark assess reads it back."""
    report = tmp_path / "iac.json"
    scan = CliRunner().invoke(
        cli, ["scan", "iac", str(repo_root / "examples" / "iac"), "--format", "json",
              "-o", str(report), "--fail-on", "none"],
    )  # fmt: skip
    assert scan.exit_code == 0, scan.output
    written = json.loads(report.read_text(encoding="utf-8"))
    assert "MLSTIX-AWS-SM-005" in written["rules_run"]  # judged the two models
    assert "MLSTIX-AWS-IAM-001" in written["rules_not_applicable"]  # the examples hold no IAM
    code, out, _ = _run("assess", str(report), "--platform", "aws", "--format", "json")
    assert code == 1
    by_id = {c["id"]: c for c in json.loads(out)["controls"]}
    assert by_id["MLCS-4.1"]["status"] == "fail"  # the example bucket has no versioning
    assert by_id["MLCS-4.1"]["failures"][0]["location"]["resource"] == "aws_s3_bucket.models"
    # no IAM policy in the examples: nothing shows sagemaker:* is not granted
    assert by_id["MLCS-6.1"]["status"] == "not-applicable"
    assert "MLSTIX-AWS-IAM-001" in by_id["MLCS-6.1"]["reason"]
    assert by_id["MLCS-6.3"]["status"] == "pass"  # its rules judged the model bucket: private
    assert by_id["MLCS-9.6"]["status"] == "not-assessed"  # live-only rules did not run
    assert "mlstix assess" in by_id["MLCS-9.6"]["reason"]
    assert by_id["MLCS-7.4"]["status"] == "not-applicable"  # kubernetes, not aws


def test_a_report_that_could_not_read_every_input_fails_controls_but_passes_none(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    """`scan iac` over a folder with a Terraform file it cannot parse (exit 2, an errors entry):
    the bucket in that file may be unversioned, so MLCS-4.1 must not pass; a finding it did make
    still fails its control; a clean report of the same rules beside it does not make it pass."""
    clean = write_report(rules_run=list(catalog))
    broken = write_report([finding("MLSTIX-AWS-S3-002")], rules_run=list(catalog))
    data = json.loads(broken.read_text(encoding="utf-8"))
    data["errors"] = [{"path": "models.tf", "message": "HCL syntax error at line 3"}]
    broken.write_text(json.dumps(data), encoding="utf-8")
    results, a = _result(bench, catalog, [clean, broken], platform="aws")
    assert results["MLCS-4.1"].status is Status.NOT_ASSESSED
    assert "could not read every input" in results["MLCS-4.1"].reason
    assert results["MLCS-4.3"].status is Status.FAIL  # MLSTIX-AWS-S3-002's finding
    assert any("models.tf: HCL syntax error" in n for n in a.notes)
    results, a = _result(bench, catalog, [clean], platform="aws")
    assert results["MLCS-4.1"].status is Status.PASS and not a.notes
