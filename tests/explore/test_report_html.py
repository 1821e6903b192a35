"""`--format html`: a self-contained, escaped report with summary, chart and KB remediation."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.findings.formats import FORMAT_NAMES, render
from mlstix.findings.formats.html import infer_cloud
from mlstix.findings.model import Finding, Location, Report, ScanError, ScannedFile, Severity
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import Cloud

SCRIPT = "<script>alert('x')</script>"


def finding(
    kb: KnowledgeBase,
    vulnerability: str,
    severity: Severity,
    *,
    rule_id: str = "models/pickle-dangerous-import",
    message: str = "found",
    location: Location | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> Finding:
    return Finding(
        rule_id=rule_id,
        severity=severity,
        title=kb.vulnerability(vulnerability).name,
        message=message,
        location=location or Location("model.pkl"),
        vulnerability=vulnerability,
        courses_of_action=tuple(c.key for c in kb.mitigations_of(vulnerability)),
        evidence=evidence or {},
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture(scope="module")
def mixed(kb: KnowledgeBase) -> Report:
    return Report.build(
        "iac",
        [ScannedFile("main.tf", "terraform"), ScannedFile("model.pkl", "pickle", "c" * 64)],
        [
            finding(kb, "insecure-model-serialization", Severity.CRITICAL),
            finding(
                kb,
                "unencrypted-ml-model-transfer",
                Severity.HIGH,
                rule_id="iac/s3-bucket-unencrypted",
                location=Location("main.tf", line=4, resource="aws_s3_bucket.models"),
            ),
            finding(
                kb,
                "unencrypted-ml-model-transfer",
                Severity.MEDIUM,
                rule_id="iac/storage-account-https",
                location=Location("main.tf", line=30, resource="azurerm_storage_account.ml"),
            ),
            finding(
                kb,
                "exposed-model-endpoints",
                Severity.LOW,
                rule_id="iac/vertex-endpoint-public",
                location=Location("main.tf", line=50, resource="google_vertex_ai_endpoint.e"),
            ),
        ],
        [ScanError("broken.pt", "truncated zip")],
    )


def test_html_is_a_registered_format() -> None:
    assert "html" in FORMAT_NAMES


def test_attacker_strings_are_escaped_everywhere(kb: KnowledgeBase) -> None:
    hostile = finding(
        kb,
        "insecure-model-serialization",
        Severity.CRITICAL,
        rule_id=f"models/{SCRIPT}",
        message=f"global {SCRIPT} & \"quoted\" 'x'",
        location=Location(f"dir/{SCRIPT}.pkl", member=SCRIPT, resource=SCRIPT),
        evidence={SCRIPT: SCRIPT, "onerror": '" onerror="alert(1)'},
    )
    report = Report.build(
        "models", [ScannedFile(SCRIPT, SCRIPT)], [hostile], [ScanError(SCRIPT, SCRIPT)]
    )
    html = str(render("html", report, kb))
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert 'onerror="alert' not in html
    for tag, attrs in tags(html):
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)


def test_self_contained_and_scriptless(mixed: Report, kb: KnowledgeBase) -> None:
    html = str(render("html", mixed, kb))
    parsed = tags(html)
    csp = [a["content"] for t, a in parsed if t == "meta" and a.get("http-equiv")]
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:"]
    for tag, attrs in parsed:
        assert tag not in ("script", "link", "iframe", "img", "object", "embed"), tag
        assert "src" not in attrs, (tag, attrs)
        href = attrs.get("href")
        assert href is None or href.startswith(("#", "https://")), href
    assert "@import" not in html and "url(" not in html
    assert "@media print" in html


def test_summary_counts_by_severity_vulnerability_and_cloud(
    mixed: Report, kb: KnowledgeBase
) -> None:
    html = str(render("html", mixed, kb))
    summary = html.split('id="summary"', 1)[1].split('id="findings"', 1)[0]
    for label, count in (("findings", 4), ("critical", 1), ("high", 1), ("medium", 1), ("low", 1)):
        assert f"<b>{count}</b>{label}</div>" in summary
    by_vuln = summary.split("<h3>By vulnerability</h3>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>([^<]+)</td>.*?<td class=\"n\">(\d+)</td></tr>", by_vuln)
    assert rows[0] == (kb.vulnerability("unencrypted-ml-model-transfer").name, "2")
    assert len(rows) == 3
    by_cloud = summary.split("<h3>By cloud</h3>", 1)[1].split("</table>", 1)[0]
    clouds = dict(re.findall(r"<tr><td>([^<]+)</td><td class=\"n\">(\d+)</td></tr>", by_cloud))
    assert clouds == {"AWS": "1", "Azure": "1", "Google Cloud": "1", "not cloud-specific": "1"}
    # the chart: one bar per severity, the longest for the most frequent vulnerability
    assert summary.count("<svg") == 2
    assert 'aria-label="Findings by severity"' in summary


def test_findings_carry_remediation_from_the_kb(mixed: Report, kb: KnowledgeBase) -> None:
    html = str(render("html", mixed, kb))
    aws = next(f for f in mixed.findings if infer_cloud(f) is Cloud.AWS)
    for coa in aws.courses_of_action:
        c = kb.course_of_action(coa)
        assert f'href="#coa-{coa}"' in html
        assert f'id="coa-{coa}"' in html
        # the AWS steps of the course of action are in its guidance section
        section = html.split(f'id="coa-{coa}"', 1)[1].split('<div class="coa"', 1)[0]
        assert "<h4>On AWS</h4>" in section
        assert len(re.findall(r"<li>", section)) >= len(c.cloud[Cloud.AWS].steps)
    first_summary = " ".join(kb.course_of_action(aws.courses_of_action[0]).summary.split())
    assert first_summary.replace("'", "&#x27;").replace('"', "&quot;")[:60] in html


def test_empty_report_and_unknown_keys_still_render(kb: KnowledgeBase) -> None:
    empty = str(render("html", Report.build("models", [], []), kb))
    assert "No findings." in empty
    stray = Finding(
        "x/rule", Severity.HIGH, "t", "m", Location("f"), "not-a-kb-key", ("not-a-coa",)
    )
    html = str(render("html", Report.build("models", [], [stray]), kb))
    assert "not-a-kb-key" in html and "not-a-coa" in html


def test_deterministic(mixed: Report, kb: KnowledgeBase) -> None:
    assert render("html", mixed, kb) == render("html", mixed, kb)


@pytest.mark.parametrize(
    ("rule_id", "resource", "evidence", "expected"),
    [
        ("iac/aws-s3-encryption", None, {}, Cloud.AWS),
        ("MLSTIX-AZ-ML-003", None, {}, Cloud.AZURE),
        ("MLSTIX-GCP-GCS-001", None, {}, Cloud.GCP),
        ("MLSTIX-K8S-SRV-001", "StatefulSet/ml/vllm", {}, None),
        ("iac/bucket", "aws_s3_bucket.models", {}, Cloud.AWS),
        ("iac/x", "AWS::SageMaker::Model", {}, Cloud.AWS),
        ("iac/x", "azurerm_machine_learning_workspace.ws", {}, Cloud.AZURE),
        (
            "iac/x",
            None,
            {"resource_type": "Microsoft.MachineLearningServices/workspaces"},
            Cloud.AZURE,
        ),
        ("iac/x", "google_storage_bucket.b", {}, Cloud.GCP),
        ("iac/x", None, {"provider": "gcp"}, Cloud.GCP),
        ("models/pickle-dangerous-import", None, {"global": "boto3.aws.s3"}, None),
        ("models/unsigned-model", None, {}, None),
    ],
)
def test_infer_cloud(
    rule_id: str, resource: str | None, evidence: dict[str, str], expected: Cloud | None
) -> None:
    f = Finding(
        rule_id, Severity.LOW, "t", "m", Location("p", resource=resource), "v", (), evidence
    )
    assert infer_cloud(f) is expected


_TERRAFORM = """
resource "aws_s3_bucket" "fail_referenced" {
  bucket = "acme-prod-bucket-7"
}
resource "aws_sagemaker_model" "m" {
  name               = "m"
  execution_role_arn = "arn:aws:iam::123456789012:role/sm"
  primary_container {
    image          = "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:latest"
    model_data_url = "s3://${aws_s3_bucket.fail_referenced.bucket}/model.tar.gz"
  }
}
"""


@pytest.mark.parametrize("scanner", ["models", "iac"])
def test_every_scanner_writes_the_html_report(tmp_path: Path, scanner: str) -> None:
    if scanner == "models":
        target = tmp_path / "evil.pkl"
        target.write_bytes(b"cos\nsystem\n(S'echo <script>x</script>'\ntR.")
    else:
        target = tmp_path / "main.tf"
        target.write_text(_TERRAFORM)
    out = tmp_path / "report.html"
    args = ["scan", scanner, str(target), "--fail-on", "critical"]
    as_json = CliRunner().invoke(cli, [*args, "--format", "json"])
    findings = json.loads(as_json.stdout)["findings"]
    assert findings, f"the {scanner} fixture should produce findings"
    result = CliRunner().invoke(cli, [*args, "--format", "html", "--output", str(out)])
    assert result.exit_code == as_json.exit_code, result.output
    html = out.read_text()
    assert f"mlstix scan report: {scanner}" in html
    assert html.count('<article class="finding"') == len(findings)
    assert "<script>x" not in html
