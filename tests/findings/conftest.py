"""A report with findings of every severity, built from the model rules and the loaded KB."""

from __future__ import annotations

import pytest

from mlstix.findings.model import Finding, Location, Report, ScanError, ScannedFile
from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.rules import load_rules


def _finding(kb: KnowledgeBase, rule_id: str, location: Location, message: str) -> Finding:
    rule = load_rules("models")[rule_id]
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        title=kb.vulnerability(rule.vulnerability).name,
        message=message,
        location=location,
        vulnerability=rule.vulnerability,
        courses_of_action=rule.courses_of_action,
        evidence={"import": "os.system"},
    )


@pytest.fixture
def report(kb: KnowledgeBase) -> Report:
    return Report.build(
        "models",
        scanned=[
            ScannedFile("models/evil.pt", "pytorch-zip", "a" * 64),
            ScannedFile("models/safe dir/model.safetensors", "safetensors", "b" * 64),
        ],
        findings=[
            _finding(
                kb,
                "models/pickle-dangerous-import",
                Location("models/evil.pt", member="archive/data.pkl"),
                "imports os.system | and calls it",
            ),
            _finding(
                kb,
                "models/unsigned-model",
                Location("models/safe dir/model.safetensors"),
                "no model.sig",
            ),
            _finding(kb, "models/no-provenance", Location("models/evil.pt", line=3), "no ML-BOM"),
        ],
        errors=[ScanError("models/locked.bin", "permission denied")],
    )
