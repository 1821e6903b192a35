"""Markdown: findings by severity with KB titles and remediation; scanned text is escaped."""

from __future__ import annotations

from mlstix.findings.formats import render
from mlstix.findings.model import Report
from mlstix.kb.graph import KnowledgeBase


def test_markdown_report(report: Report, kb: KnowledgeBase) -> None:
    text = render("markdown", report, kb)
    assert isinstance(text, str)
    crit = text.index("## Critical (1)")
    med = text.index("## Medium (1)")
    low = text.index("## Low (1)")
    assert crit < med < low
    assert kb.vulnerability("insecure-model-serialization").name in text
    coa = kb.course_of_action("implement-ml-model-signing-with-sigstore")
    assert " ".join(coa.summary.split()) in text
    # a pipe from a scanned file cannot break out of the text; members are shown
    assert "imports os.system \\| and calls it" in text
    assert "models/evil.pt!archive/data.pkl" in text
    assert "`models/locked.bin`: permission denied" in text
    assert "| critical | 1 |" in text
