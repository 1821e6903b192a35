"""Reports as people read them: evidence as sentences, plurals, the HTML header and charts, the
terminal report at 80 columns."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from rich.console import Console

from mlstix.findings.evidence import evidence_sentence, evidence_value
from mlstix.findings.formats import render
from mlstix.findings.formats.html import _bar_chart
from mlstix.findings.formats.html import render as render_html
from mlstix.findings.formats.table import print_table
from mlstix.findings.model import Finding, Location, Report, ScannedFile, Severity, count
from mlstix.kb.graph import KnowledgeBase


@pytest.mark.parametrize(
    ("evidence", "sentence"),
    [
        (
            {"attribute": "direct_internet_access", "value": "Enabled", "provider_default": True,
             "expected": "Disabled"},
            "direct_internet_access: value not set; provider default is Enabled; expected Disabled",
        ),
        (
            {"attribute": "enable_network_isolation", "value": False, "provider_default": True,
             "expected": True},
            "enable_network_isolation: value not set; provider default is false; expected true",
        ),
        ({"attribute": "versioning", "value": None}, "versioning: value not set"),
        (
            {"attribute": "securityContext.privileged", "containers": ["model", "sidecar"]},
            "securityContext.privileged: containers: model, sidecar",
        ),
        ({"import": "os.system"}, "import: os.system"),
        ({"kms_key": "arn:k", "value": "AES256"}, "value is AES256; kms key: arn:k"),
    ],
)  # fmt: skip
def test_evidence_reads_as_a_sentence(evidence: dict[str, object], sentence: str) -> None:
    assert evidence_sentence(evidence) == sentence
    assert "True" not in sentence and "False" not in sentence and "None" not in sentence


def test_evidence_values() -> None:
    assert [evidence_value(v) for v in (True, False, None, [], ("a", 1))] == [
        "true", "false", "not set", "none", "a, 1"
    ]  # fmt: skip


def test_count_is_singular_for_one() -> None:
    assert [count(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]


def _finding(kb: KnowledgeBase, path: str, evidence: dict[str, object]) -> Finding:
    vuln = kb.vulnerability("exposed-model-endpoints")
    return Finding(
        rule_id="MLSTIX-AWS-SM-001",
        severity=Severity.HIGH,
        title=f"{vuln.name}: Notebook instance has direct internet access",
        message="direct_internet_access is not set",
        location=Location(path, line=3, resource="aws_sagemaker_notebook_instance.research"),
        vulnerability=vuln.key,
        courses_of_action=("deploy-ml-specific-access-controls",),
        evidence=evidence,
    )


EVIDENCE = {"attribute": "direct_internet_access", "value": "Enabled", "provider_default": True}


def test_html_says_when_and_what_and_shows_evidence_as_a_sentence(kb: KnowledgeBase) -> None:
    report = Report.build(
        "iac",
        [ScannedFile("infra/prod/main.tf", "terraform", None)],
        [_finding(kb, "infra/prod/main.tf", EVIDENCE)],
        [],
    )
    html = render_html(report, kb, now=datetime(2026, 12, 1, 15, 4, tzinfo=UTC))
    header = re.search(r"<header>(.*?)</header>", html, re.S)
    assert header is not None
    assert "Made 2026-12-01 15:04 UTC" in header.group(1)
    assert "scanned: 1 file in infra/prod" in header.group(1)
    assert "1 finding · 0 errors" in header.group(1)
    assert "direct_internet_access: value not set; provider default is Enabled" in html
    assert "True" not in re.sub(r"<[^>]+>", " ", html.split('<section id="findings">')[1])


def test_markdown_shows_evidence_as_a_sentence(kb: KnowledgeBase) -> None:
    report = Report.build("iac", [], [_finding(kb, "main.tf", EVIDENCE)], [])
    text = render("markdown", report, kb)
    assert isinstance(text, str)
    assert (
        "**Evidence:** direct\\_internet\\_access: value not set; provider default is Enabled"
        in text
    )
    assert "scanned 0 files: 1 finding, 0 errors" in text


def test_chart_labels_are_never_cut() -> None:
    label = "Inadequate Access Controls for ML Resources and a Much Longer Tail"
    svg = _bar_chart("Findings by vulnerability", [(label, 3, "#000"), ("short", 1, "#111")])
    shown = " ".join(re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg))
    assert shown == f"{label} short"
    assert "…" not in svg


def test_terminal_report_at_80_columns_keeps_paths_whole(kb: KnowledgeBase) -> None:
    path = "infra/environments/production/sagemaker/notebooks/main.tf"
    report = Report.build(
        "iac", [ScannedFile(path, "terraform", None)], [_finding(kb, path, {})], []
    )
    narrow = Console(width=80, record=True, color_system=None)
    print_table(report, kb, narrow)
    text = narrow.export_text()
    assert f"{path}:3" in text  # on one line, not folded inside a column
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "scanned 1 file; 1 high; 0 errors" in text
    wide = Console(width=160, record=True, color_system=None)
    print_table(report, kb, wide)
    assert "┃ severity" in wide.export_text()  # a table when there is room
