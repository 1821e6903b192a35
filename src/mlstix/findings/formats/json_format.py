"""The JSON report: the stable machine contract of DESIGN.md ("JSON report").

One scanned file, finding or error per line: readable, friendly to ``grep``, and encoded by the
C accelerator of :mod:`json` (which ``indent=`` disables: about 4x slower on large reports).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlstix.findings.model import Report

if TYPE_CHECKING:
    from mlstix.kb.graph import KnowledgeBase

__all__ = ["render"]

_LISTS = ("scanned", "findings", "errors", "rules_run", "rules_not_applicable")


def render(report: Report, kb: KnowledgeBase | None = None) -> str:
    del kb  # the JSON report carries keys, not prose
    data: dict[str, Any] = report.to_json()
    out = ["{", f'  "tool": {json.dumps(data["tool"])},']
    for index, key in enumerate(_LISTS):
        comma = "," if index < len(_LISTS) - 1 else ""
        items = data[key]
        if not items:
            out.append(f'  "{key}": []{comma}')
            continue
        out.append(f'  "{key}": [')
        out.append(",\n".join(f"    {json.dumps(item)}" for item in items))
        out.append(f"  ]{comma}")
    out.append("}")
    return "\n".join(out) + "\n"
