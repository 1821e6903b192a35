"""Every rule, in every language it supports, against its fixtures.

Fixtures live in ``fixtures/<RULE-ID>/<dialect>[-variant]/``. Resources whose name starts with
``fail`` (any case) must get exactly one finding of that rule; resources starting with ``pass``
must get none; other resources are scaffolding. The expected set is read from the names, so a
fixture carries its own expectation (semgrep-rules' ``# ruleid:``, checkov's pass/fail style).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import default_registry, evaluate

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(
    (rule_dir.name, case.name)
    for rule_dir in FIXTURES.iterdir()
    if rule_dir.is_dir()
    for case in rule_dir.iterdir()
    if case.is_dir()
)


def _label(name: str) -> str | None:
    low = name.rsplit("/", 1)[-1].lower()  # ARM child resources are named by their path
    return "fail" if low.startswith("fail") else "pass" if low.startswith("pass") else None


@pytest.mark.parametrize(("rule_id", "case"), CASES, ids=[f"{r}/{c}" for r, c in CASES])
def test_fixture_findings_are_exactly_the_fail_resources(rule_id: str, case: str) -> None:
    registry = default_registry()
    rule = registry.get(rule_id)
    dialect = case.split("-", 1)[0]
    assert dialect in rule.dialects, f"{rule_id} does not support {dialect}"
    found = collect([FIXTURES / rule_id / case])
    assert not found.errors, found.errors
    labelled = {r.name: _label(r.name) for r in found.resources if r.dialect == dialect}
    expected_fail = {n for n, label in labelled.items() if label == "fail"}
    assert any(label == "pass" for label in labelled.values()), "a fixture needs a pass_*"
    if "-" not in case:  # the main fixture of a language; variants may hold only passes
        assert expected_fail, "the main fixture needs at least one fail_* resource"
    findings = evaluate(registry, [rule], found.resources, None)
    by_name = {r.address: r.name for r in found.resources}
    flagged = [by_name[f.location.resource or ""] for f in findings]
    assert sorted(flagged) == sorted(expected_fail)
    for f in findings:
        assert f.location.line and f.location.line >= 1
        assert f.vulnerability == rule.vulnerability


def test_every_rule_has_a_fixture_in_every_language_it_supports() -> None:
    have = {(rule_id, case.split("-", 1)[0]) for rule_id, case in CASES}
    missing = [
        f"{rule.id}/{dialect}"
        for rule in default_registry()
        for dialect in rule.dialects
        if (rule.id, dialect) not in have
    ]
    assert not missing, f"rules without fixtures: {missing}"
