from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlstix.findings.model import Report
from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.models import Limits, ScanOptions, ScanPolicy, scan_models

Scan = Callable[..., Report]


@pytest.fixture
def scan(kb: KnowledgeBase) -> Scan:
    def run(
        *paths: Path,
        limits: Limits | None = None,
        policy: ScanPolicy | None = None,
        jobs: int = 1,
        isolate: bool = True,
    ) -> Report:
        options = ScanOptions(
            jobs=jobs, limits=limits or Limits(), policy=policy or ScanPolicy(), isolate=isolate
        )
        return scan_models([str(p) for p in paths], kb, options)

    return run


def rules(report: Report, path_suffix: str = "") -> list[str]:
    return sorted(f.rule_id for f in report.findings if f.location.path.endswith(path_suffix))


def imports(report: Report, rule_id: str = "models/pickle-dangerous-import") -> set[str]:
    return {str(f.evidence.get("import")) for f in report.findings if f.rule_id == rule_id}
