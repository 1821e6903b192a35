"""The rule catalog: enough rules, every cloud and language, every rule tied to the KB."""

from __future__ import annotations

import pytest

from mlstix.errors import MlstixError
from mlstix.kb.load import load_kb
from mlstix.scan.rules.iac import RuleRegistry, default_registry


def test_catalog_covers_the_issue() -> None:
    rules = list(default_registry())
    assert len(rules) >= 40
    assert {r.cloud for r in rules} == {"aws", "azure", "gcp", "kubernetes"}
    assert {d for r in rules for d in r.dialects} == {
        "terraform",
        "cloudformation",
        "arm",
        "kubernetes",
    }
    assert len({r.id for r in rules}) == len(rules)


def test_every_rule_maps_to_the_kb() -> None:
    kb = load_kb()
    for rule in default_registry():
        kb.vulnerability(rule.vulnerability)  # raises KeyError when unknown
        for key in rule.courses_of_action:
            kb.course_of_action(key)
        mitigating = {c.key for c in kb.mitigations_of(rule.vulnerability)}
        assert mitigating & set(rule.courses_of_action), (
            f"{rule.id}: none of its courses of action mitigates {rule.vulnerability} in the KB"
        )


def test_every_rule_has_a_fix_per_language() -> None:
    for rule in default_registry():
        assert set(rule.fix) >= set(rule.dialects), rule.id
        assert all(snippet.strip() for snippet in rule.fix.values())


def test_a_bad_rule_file_is_refused_with_the_file_named() -> None:
    registry = RuleRegistry()
    with pytest.raises(MlstixError, match=r"broken\.yaml"):
        registry.load_yaml("rules:\n- id: NOT-AN-ID\n  title: x\n", "broken.yaml")


def test_a_rule_with_both_check_and_logic_is_refused() -> None:
    registry = RuleRegistry()
    text = """
rules:
- id: MLSTIX-AWS-X-001
  title: something wrong
  severity: high
  vulnerability: exposed-model-endpoints
  courses_of_action: [implement-ml-model-runtime-security]
  cloud: aws
  logic: x
  languages: [terraform]
  check:
    terraform:
    - types: [aws_x]
      all: [{path: a, op: set}]
  fix: {terraform: "a = 1"}
"""
    with pytest.raises(MlstixError, match="either 'check'"):
        registry.load_yaml(text, "t.yaml")


def test_a_python_rule_without_registered_logic_is_refused() -> None:
    registry = RuleRegistry()
    registry.load_yaml(
        """
rules:
- id: MLSTIX-AWS-X-001
  title: something wrong
  severity: high
  vulnerability: exposed-model-endpoints
  courses_of_action: [implement-ml-model-runtime-security]
  cloud: aws
  logic: missing-logic
  languages: [terraform]
  fix: {terraform: "a = 1"}
""",
        "t.yaml",
    )
    with pytest.raises(MlstixError, match="missing-logic"):
        registry.check()
