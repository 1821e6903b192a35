"""The benchmark's controls as one table: the ``controls`` sheet of ``kb export`` and the CSV and
xlsx exports of ``benchmark export``. List-valued cells hold one item per line; the remediation
cell holds the course of action's steps the control points at, rendered from the course of
action (never a copy kept in the control)."""

from __future__ import annotations

from mlstix.kb.controls import Benchmark, remediation_steps
from mlstix.kb.graph import KnowledgeBase

__all__ = ["CONTROL_COLUMNS", "control_table"]

CONTROL_COLUMNS = [
    "id",
    "title",
    "level",
    "platforms",
    "courses_of_action",
    "closes",
    "statement",
    "rationale",
    "impact",
    "automated_rules",
    "manual_audit",
    "remediation",
    "nist_sp_800_53_r5",
    "nist_ai_rmf",
    "owasp_ml_top_10",
    "mitre_atlas",
    "eu_ai_act",
]


def _flat(text: str) -> str:
    return " ".join(text.split())


def control_table(bench: Benchmark, kb: KnowledgeBase) -> list[list[str]]:
    """The header row, then one row per control in benchmark order."""
    rows = [list(CONTROL_COLUMNS)]
    for c in bench.controls:
        remediation = [
            f"{s.platform} ({s.course_of_action} step {s.step}): {s.text}" if s.step else s.text
            for s in remediation_steps(bench, c, kb)
        ]
        m = c.mappings
        rows.append(
            [
                c.id,
                c.title,
                str(c.level),
                "\n".join(p.value for p in c.platforms),
                "\n".join(bench.courses_of_action(c)),
                "\n".join(c.closes),
                _flat(c.statement),
                _flat(c.rationale),
                _flat(c.impact),
                "\n".join([*c.audit.rules, *c.audit.rule_patterns]),
                "\n".join(f"{p.value}: {_flat(t)}" for p, t in c.audit.manual.items()),
                "\n".join(remediation),
                "\n".join(m.nist_800_53),
                "\n".join(m.ai_rmf),
                "\n".join(m.owasp_ml),
                "\n".join(f"{a} {kb.mitre_object(a).name}" for a in m.atlas),
                "\n".join(m.eu_ai_act),
            ]
        )
    return rows
