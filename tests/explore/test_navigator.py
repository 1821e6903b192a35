"""Navigator layers (format 4.5): KB coverage and scan findings, for ATLAS and ATT&CK."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.findings.model import Finding, Location, Report, Severity
from mlstix.findings.navigator import findings_layer
from mlstix.findings.read import read_report
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.render.layer_schema import validate_layer
from mlstix.kb.render.navigator import DOMAINS, coverage_layer

SCORES = {"critical": 9.5, "high": 8.0, "medium": 5.5, "low": 3.0, "info": 0.0}


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.output


def techniques_of(kb: KnowledgeBase, source: str) -> set[str]:
    return {
        m.external_id
        for m in kb.mitre
        if m.source == source and re.match(r"^(AML\.)?T\d{4}", m.external_id)
    }


def mapped_by(kb: KnowledgeBase, key: str) -> set[str]:
    return {r.target for r in kb.edges_from(key) if r.type == "related-to"}


def finding(vulnerability: str, severity: Severity, rule: str = "r") -> Finding:
    return Finding(rule, severity, "t", "m", Location("f"), vulnerability, ())


@pytest.mark.parametrize("name", ["atlas", "attack"])
def test_coverage_layer_is_valid_and_lists_exactly_the_mapped_techniques(
    kb: KnowledgeBase, name: str
) -> None:
    domain = DOMAINS[name]
    layer = coverage_layer(kb, domain)
    assert validate_layer(layer) == []
    assert layer["versions"]["layer"] == "4.5"
    assert layer["domain"] == {"atlas": "atlas-atlas", "attack": "enterprise-attack"}[name]
    valid = techniques_of(kb, domain.source)
    expected: dict[str, int] = {}
    for obj in kb.objects:
        for tid in mapped_by(kb, obj.key) & valid:
            expected[tid] = expected.get(tid, 0) + 1
    assert expected, "the KB maps to techniques of both domains"
    scored = {t["techniqueID"]: t["score"] for t in layer["techniques"] if "score" in t}
    assert scored == expected
    assert layer["gradient"]["maxValue"] == max(expected.values())
    ids = [t["techniqueID"] for t in layer["techniques"]]
    for tid in scored:
        if tid.count(".") == (2 if tid.startswith("AML.") else 1):
            parent = next(
                t for t in layer["techniques"] if t["techniqueID"] == tid.rsplit(".", 1)[0]
            )
            assert parent["showSubtechniques"] is True
    assert ids == sorted(ids)
    assert all(not t.startswith("AML.") for t in ids) == (name == "attack")


def test_findings_layer_scores_techniques_by_worst_severity(kb: KnowledgeBase) -> None:
    domain = DOMAINS["atlas"]
    valid = techniques_of(kb, domain.source)
    findings = [
        finding("insecure-model-serialization", Severity.CRITICAL),
        finding("unencrypted-ml-model-transfer", Severity.LOW),
        finding("exposed-model-endpoints", Severity.MEDIUM),
    ]
    worst: dict[str, float] = {}
    for f in findings:
        reached = mapped_by(kb, f.vulnerability)
        for ap in kb.attack_patterns_targeting(f.vulnerability):
            reached |= mapped_by(kb, ap.key)
        for tid in reached & valid:
            worst[tid] = max(worst.get(tid, -1.0), SCORES[f.severity.value])
    layer = findings_layer(kb, findings, domain, source="scan.json")
    assert validate_layer(layer) == []
    scored = {t["techniqueID"]: t["score"] for t in layer["techniques"] if "score" in t}
    assert scored == worst
    assert 9.5 in scored.values()
    assert [i["label"] for i in layer["legendItems"]] == list(SCORES)
    assert {"name": "report", "value": "scan.json"} in layer["metadata"]


def test_findings_layer_rejects_unknown_vulnerabilities(kb: KnowledgeBase) -> None:
    from mlstix.errors import UsageError

    with pytest.raises(UsageError, match=r"finding 1 .*'ml-model-tampering'"):
        findings_layer(
            kb,
            [
                finding("unsigned-ml-models", Severity.LOW),
                finding("ml-model-tampering", Severity.LOW),
            ],
            DOMAINS["attack"],
        )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda layer: layer.pop("name"), "'name' is a required property"),
        (lambda layer: layer.update(domain="atlas"), "domain"),
        (lambda layer: layer["versions"].update(layer="4.4"), "versions/layer"),
        (lambda layer: layer["versions"].update(navigator="4.8.2"), "versions/navigator"),
        (lambda layer: layer["techniques"][0].update(techniqueID="AML.M0003"), "techniqueID"),
        (lambda layer: layer["techniques"][0].update(score="high"), "score"),
        (lambda layer: layer["gradient"].update(maxValue=0), "maxValue must be greater"),
        (lambda layer: layer["legendItems"].append({"label": "x"}), "color"),
        (lambda layer: layer["techniques"].append(layer["techniques"][0]), "appears twice"),
    ],
)
def test_validate_layer_catches_malformed_layers(
    kb: KnowledgeBase, change: Any, problem: str
) -> None:
    layer = copy.deepcopy(coverage_layer(kb, DOMAINS["atlas"]))
    change(layer)
    problems = validate_layer(layer)
    assert any(problem in p for p in problems), problems


def test_cli_coverage_layer(tmp_path: Path) -> None:
    out = tmp_path / "atlas.json"
    code, output = run("navigator", "--domain", "atlas", "--output", str(out))
    assert code == 0, output
    layer = json.loads(out.read_text())
    assert validate_layer(layer) == []
    assert layer["domain"] == "atlas-atlas"


def test_cli_layer_from_a_scan_report(tmp_path: Path, kb: KnowledgeBase) -> None:
    report = Report.build(
        "models", [], [finding("insecure-model-serialization", Severity.HIGH, "models/x")]
    )
    path = tmp_path / "scan.json"
    path.write_text(json.dumps(report.to_json()))
    out = tmp_path / "layer.json"
    code, output = run(
        "navigator", "--report", str(path), "--domain", "attack", "--output", str(out)
    )
    assert code == 0, output
    layer = json.loads(out.read_text())
    assert layer["domain"] == "enterprise-attack"
    assert {t["score"] for t in layer["techniques"] if "score" in t} == {8.0}
    assert read_report(path.read_text(), "scan.json")[0] == report.findings[0]
    # and from stdin, to stdout
    code, output = run("navigator", "--report", "-", "--domain", "attack", stdin=path.read_text())
    assert code == 0
    assert json.loads(output) == layer | {
        "name": "mlstix scan findings: <stdin>",
        "metadata": [*layer["metadata"][:-1], {"name": "report", "value": "<stdin>"}],
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "is not an mlstix JSON report"),
        ('{"findings": [{"rule_id": "r"}]}', "field findings.0.severity"),
        (
            '{"findings": [{"rule_id": "r", "severity": "urgent", "vulnerability": "v", '
            '"location": {"path": "p"}}]}',
            "field findings.0.severity",
        ),
        (
            '{"findings": [{"rule_id": "r", "severity": "high", "vulnerability": "nope", '
            '"location": {"path": "p"}}]}',
            "'nope', which is not a vulnerability",
        ),
    ],
)
def test_cli_rejects_bad_reports_and_writes_nothing(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "scan.json"
    path.write_text(content)
    out = tmp_path / "layer.json"
    code, output = run("navigator", "--report", str(path), "--output", str(out))
    assert code == 2
    assert message in " ".join(output.split()), output
    assert "scan.json" in output or "finding 0" in output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.json"]


def test_cli_missing_report(tmp_path: Path) -> None:
    code, output = run("navigator", "--report", str(tmp_path / "absent.json"))
    assert code == 2
    assert "absent.json" in output
