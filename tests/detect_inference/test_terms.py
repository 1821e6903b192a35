"""The findings' terms read lightly (``_terms``) are the checked loaders' terms."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstix.detect.inference import _terms
from mlstix.kb.load import load_kb
from mlstix.scan.rules import load_rules


def test_light_rules_are_the_checked_rules() -> None:
    light = _terms.light_rules()
    assert light is not None
    checked = load_rules("inference")
    assert sorted(light) == sorted(checked.ids)
    for rule in checked.rules:
        terms = light[rule.id]
        assert (terms.severity, terms.vulnerability, terms.courses_of_action) == (
            rule.severity,
            rule.vulnerability,
            rule.courses_of_action,
        )
        assert (
            _terms.light_name(rule.vulnerability)
            == load_kb().vulnerability(rule.vulnerability).name
        )


def test_kb_passed_in_and_light_terms_agree() -> None:
    light, full = _terms.Terms(None), _terms.Terms(load_kb)
    for rule_id in load_rules("inference").ids:
        assert light.rule(rule_id) == full.rule(rule_id)
        key = light.rule(rule_id).vulnerability
        assert light.title(key) == full.title(key) == _terms.Terms(load_kb()).title(key)


def test_author_copy_and_odd_files_go_through_the_checked_loader(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLSTIX_KB_DATA", str(tmp_path))
    assert _terms.light_name.__wrapped__("exposed-model-endpoints") is None
    monkeypatch.delenv("MLSTIX_KB_DATA")
    assert _terms.light_name.__wrapped__("no-such-vulnerability") is None
    assert _terms.light_name.__wrapped__("../vulnerabilities/exposed-model-endpoints") is None
    monkeypatch.setattr(_terms, "_RULES", tmp_path / "missing.yaml")
    assert _terms.light_rules.__wrapped__() is None
    (tmp_path / "bad.yaml").write_text("- id: x\n  severity: dire\n", encoding="utf-8")
    monkeypatch.setattr(_terms, "_RULES", tmp_path / "bad.yaml")
    assert _terms.light_rules.__wrapped__() is None
