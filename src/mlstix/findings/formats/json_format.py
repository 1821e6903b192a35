"""The JSON report: the stable machine contract of DESIGN.md ("JSON report")."""

from __future__ import annotations

import json

from mlstix.findings.model import Report
from mlstix.kb.graph import KnowledgeBase

__all__ = ["render"]


def render(report: Report, kb: KnowledgeBase) -> str:
    del kb  # the JSON report carries keys, not prose
    return json.dumps(report.to_json(), indent=2, sort_keys=False) + "\n"
