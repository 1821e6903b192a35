"""Fixtures of the benchmark tests: the loaded benchmark, the rule catalog, report writers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from mlstix.benchmark._catalog import CatalogRule, rule_catalog
from mlstix.findings.formats.json_format import render
from mlstix.findings.model import Finding, Location, Report, ScannedFile, Severity
from mlstix.kb.controls import Benchmark, load_benchmark
from mlstix.kb.graph import KnowledgeBase

WriteReport = Callable[..., Path]


@pytest.fixture(scope="session")
def bench(kb: KnowledgeBase) -> Benchmark:
    return load_benchmark(kb)


@pytest.fixture(scope="session")
def catalog() -> dict[str, CatalogRule]:
    return rule_catalog()


def finding(rule_id: str, resource: str = "aws_s3_bucket.models", message: str = "bad") -> Finding:
    return Finding(
        rule_id=rule_id,
        severity=Severity.HIGH,
        title="t",
        message=message,
        location=Location("main.tf", line=3, resource=resource),
        vulnerability="unversioned-model-assets",
        courses_of_action=("implement-immutable-ml-model-versioning",),
    )


@pytest.fixture
def write_report(tmp_path: Path, kb: KnowledgeBase) -> WriteReport:
    """Write a real JSON report (through the JSON format) with these findings, rules_run and
    rules_not_applicable; ``rules_run=None`` writes a report of an mlstix before rules_run,
    ``legacy=True`` one before rules_not_applicable (its rules_run then named every rule
    evaluated, judged or not)."""
    count = iter(range(1000))

    def write(
        findings: Iterable[Finding] = (),
        rules_run: Iterable[str] | None = (),
        not_applicable: Iterable[str] = (),
        *,
        legacy: bool = False,
    ) -> Path:
        report = Report.build(
            "iac",
            [ScannedFile("main.tf", "terraform")],
            list(findings),
            rules_run=rules_run or (),
            rules_not_applicable=not_applicable,
        )
        text = render(report, kb)
        if rules_run is None or legacy:
            data = json.loads(text)
            del data["rules_not_applicable"]
            if rules_run is None:
                del data["rules_run"]
            text = json.dumps(data)
        path = tmp_path / f"report-{next(count)}.json"
        path.write_text(text, encoding="utf-8")
        return path

    return write
