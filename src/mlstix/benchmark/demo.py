"""The benchmark step of ``mlstix demo``: assess the controls from the demo's in-memory reports
exactly as ``benchmark assess`` does from their JSON, and print the compact scorecard."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console

from mlstix.benchmark._catalog import rule_catalog
from mlstix.benchmark._reports import ReportInput
from mlstix.benchmark._text import print_scorecard
from mlstix.benchmark.assess import assess
from mlstix.findings.model import Report
from mlstix.kb.controls import load_benchmark
from mlstix.kb.graph import KnowledgeBase

__all__ = ["print_demo_scorecard"]

_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "manual": "magenta",
    "not-assessed": "yellow",
    "not-applicable": "dim",
}


def print_demo_scorecard(
    reports: Mapping[str, Report], kb: KnowledgeBase, console: Console
) -> None:
    inputs = [
        ReportInput(
            name,
            r.findings,
            frozenset(r.rules_run),
            len(r.scanned),
            tuple(f"{e.path}: {e.message}" for e in r.errors),
            frozenset(r.rules_not_applicable),
        )
        for name, r in reports.items()
    ]
    result = assess(load_benchmark(kb), inputs, rule_catalog())
    print_scorecard(result, kb, console, _STYLE, controls=False)
