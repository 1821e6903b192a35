"""Rule metadata: every rule points at real KB objects, and every rule the scanner can emit
is declared (so no finding lacks a title, severity or remediation)."""

from __future__ import annotations

import re
from pathlib import Path

from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.rules import check_rules, load_rules

SRC = Path(__file__).resolve().parents[2] / "src" / "mlstix" / "scan" / "models"


def test_rules_point_at_kb_objects(kb: KnowledgeBase) -> None:
    assert check_rules(load_rules("models"), kb) == []


def test_every_emitted_rule_is_declared() -> None:
    used = set()
    for path in SRC.rglob("*.py"):
        used |= set(re.findall(r'"(models/[a-z0-9-]+)"', path.read_text()))
    declared = set(load_rules("models").ids)
    assert used, "no rule ids found in the scanner sources"
    assert used <= declared, sorted(used - declared)
    assert declared <= used, sorted(declared - used)  # no dead rules
