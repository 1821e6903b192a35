"""The findings' terms read lightly (``_terms``) are the checked loaders' terms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def _agrees(text: str) -> None:
    """Where PyYAML reads ``text``, every value ``_simple`` reads as a word or a list of words
    is PyYAML's, in the same shape; ``_simple`` may decline (``None``) anything."""
    import yaml

    simple = _terms._simple(text.encode())
    if simple is None:
        return
    try:
        full = yaml.safe_load(text)
    except yaml.YAMLError:
        return  # (a broken packaged file is the checked loaders' to report, in the tests)
    if isinstance(simple, dict):
        assert isinstance(full, dict) and set(full) == set(simple)
        pairs = [(simple, full)]
    else:
        assert isinstance(full, list) and len(full) == len(simple)
        pairs = list(zip(simple, full, strict=True))
        assert all(isinstance(f, dict) and set(f) == set(s) for s, f in pairs)
    for mine, theirs in pairs:
        for key, value in mine.items():
            if value is not _terms._OTHER:
                assert theirs[key] == value, (key, value, theirs[key])


def test_the_simple_reader_reads_the_packaged_files_as_pyyaml() -> None:
    files = [_terms._RULES, *sorted(_terms._VULNERABILITIES.glob("*.yaml"))]
    taken = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        _agrees(text)
        taken += _terms._simple(text.encode()) is not None
    assert _terms._simple(_terms._RULES.read_bytes()) is not None
    assert taken >= len(files) // 2  # most knowledge-base files are of the simple shape


_ODD_VALUES = ["yes", "No", "on", "null", "~", "", "1.5", "0x1f", "2026-12-01", "'quoted'",
               '"quoted"', "&anchor high", "*alias", "!!str high", "high # comment", "a: b",
               "[a, b", "[a, [b]]", "{a: b}", "| block", "> folded", "high ", "- nested",
               "x\n    continued", "x\n\n    continued", "ünïcode", "%tag", "@at", "`tick`",
               "? complex", "a,b", "(parens) and/slash.dot"]  # fmt: skip


@pytest.mark.parametrize("value", _ODD_VALUES)
def test_odd_values_are_read_as_pyyaml_or_declined(value: str) -> None:
    rules = _terms._RULES.read_text(encoding="utf-8")
    vulnerability = (_terms._VULNERABILITIES / "exposed-model-endpoints.yaml").read_text(
        encoding="utf-8"
    )
    for field in ("severity", "vulnerability", "id"):
        _agrees(rules.replace(f"  {field}: ", f"  {field}: {value} #", 1).replace(" #", "", 1))
        _agrees(rules.replace(f"  {field}: high", f"  {field}: {value}", 1))
    _agrees(vulnerability.replace("name: Exposed Model Endpoints", f"name: {value}", 1))
    _agrees(vulnerability.replace("key: exposed-model-endpoints", f"key: {value}", 1))


@pytest.mark.parametrize(
    "change",
    [
        lambda t: "---\n" + t,
        lambda t: "%YAML 1.1\n---\n" + t,
        lambda t: "\ufeff" + t,
        lambda t: t.replace("\n", "\r\n"),
        lambda t: t.replace("  ", "\t", 1),
        lambda t: t + "name: Other Name\n",  # a duplicate key
        lambda t: t.replace("name: ", "name:\n  ", 1),  # the value on the next line
        lambda t: t.replace("name: ", "<<: {name: Merged}\nname2: ", 1),
        lambda t: t.replace("name: ", '"name": ', 1),
        lambda t: t.replace("references:", "refs: [a,\nname: Evil,\n]\nreferences:", 1),
        lambda t: "- " + t,
    ],
)
def test_odd_layouts_are_read_as_pyyaml_or_declined(change: Any) -> None:
    vulnerability = (_terms._VULNERABILITIES / "exposed-model-endpoints.yaml").read_text(
        encoding="utf-8"
    )
    _agrees(change(vulnerability))
    rules = _terms._RULES.read_text(encoding="utf-8")
    _agrees(change(rules))


def test_the_simple_reader_spares_the_pyyaml_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from mlstix.detect.inference import _terms; "
        "r = _terms.light_rules(); n = _terms.light_name('exposed-model-endpoints'); "
        "print(r is not None, n, 'yaml' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    assert done.stdout.split() == ["True", "Exposed", "Model", "Endpoints", "False"]
