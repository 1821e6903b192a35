"""Detection rules as knowledge-base data: STIX indicators, their ties, and bad rule files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlstix.errors import KbDataError
from mlstix.kb.build import render_tree
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.load import data_dir, load_kb, load_kb_from


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_kb()


def _objects(text: str) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in json.loads(text)["objects"]}


def test_each_rule_is_an_indicator_that_indicates_its_attack_pattern(kb: KnowledgeBase) -> None:
    files = render_tree(kb)
    objs = _objects(files["stix/indicators.json"])
    bundle = _objects(files["stix/bundle.json"])
    assert kb.detections.rules
    for rule in kb.detections.rules:
        ind = objs[f"indicator--{rule.id}"]
        assert ind["pattern_type"] == "sigma"
        assert ind["pattern"] == rule.text
        assert yaml.safe_load(ind["pattern"])["id"] == rule.id
        assert ind["name"] == rule.title
        assert ind["valid_from"][:19] == ind["created"][:19] == rule.created.isoformat()[:19]
        rel = objs[rule.indicates_id]
        assert rel["relationship_type"] == "indicates"
        assert rel["source_ref"] == ind["id"]
        assert rel["target_ref"] == kb.get(rule.attack_pattern).id
        assert ind["id"] in bundle and rel["id"] in bundle
        assert ind["id"] in bundle["report--41cec861-748a-4491-91e5-a8e6af9babb4"]["object_refs"]
    for note in kb.detections.no_rule:
        assert objs[note.note_id]["object_refs"] == [kb.get(note.attack_pattern).id]


def test_build_is_deterministic_with_indicators(kb: KnowledgeBase) -> None:
    assert render_tree(kb)["stix/indicators.json"] == render_tree(kb)["stix/indicators.json"]


def test_taxii_knowledge_base_collection_carries_the_indicators(kb: KnowledgeBase) -> None:
    from mlstix.taxii.kbcontent import kb_objects

    ids = {o["id"] for o in kb_objects()}
    assert {f"indicator--{r.id}" for r in kb.detections.rules} <= ids
    assert {r.indicates_id for r in kb.detections.rules} <= ids


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(data_dir(), root)
    return root


def _rule_file(root: Path) -> Path:
    return sorted((root / "sigma" / "aws").glob("*.yml"))[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["mlstix"].update(attack_pattern="no-such-pattern"), "no attack pattern"),
        (lambda d: d["mlstix"].update(vulnerability="shared-tenancy-risks"), "does not target"),
        (lambda d: d.update(level="severe"), "field level"),
        (lambda d: d.pop("falsepositives"), "field falsepositives"),
        (lambda d: d.update(tags=["attack.impact"]), "no MITRE ATLAS technique"),
        (lambda d: d.update(references=["https://example.com/x"]), "field references: lacks"),
        (lambda d: d.update(id="not-a-uuid"), "field id"),
        (lambda d: d.pop("mlstix"), "field mlstix"),
    ],
)
def test_bad_rule_is_named(tmp_path: Path, change: Any, expected: str) -> None:
    root = _copy(tmp_path)
    path = _rule_file(root)
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(KbDataError) as err:
        load_kb_from(root)
    text = str(err.value)
    assert f"sigma/aws/{path.name}" in text and expected in text, text


def test_attack_pattern_without_rule_or_reason_is_a_problem(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    for path in (root / "sigma").rglob("*.yml"):
        if "ml-pipeline-compromise.md" in path.read_text():
            path.unlink()
    with pytest.raises(KbDataError, match="'ml-pipeline-compromise' has no rule"):
        load_kb_from(root)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    path = _rule_file(root)
    path.write_text("title: [unclosed\n")
    with pytest.raises(KbDataError, match=rf"{path.name}: YAML syntax: line \d+, column \d+"):
        load_kb_from(root)


def test_a_date_that_is_no_day_is_named_not_a_traceback(tmp_path: Path) -> None:
    """PyYAML constructs `date: 2026-02-30` with datetime.date and raised its ValueError (a
    traceback from `detect --rules DIR` and `kb check`)."""
    root = _copy(tmp_path)
    path = _rule_file(root)
    text = path.read_text()
    path.write_text(re.sub(r"(?m)^date: .*$", "date: 2026-02-30", text))
    line = 1 + text[: text.index("\ndate: ") + 1].count("\n")
    with pytest.raises(KbDataError) as err:
        load_kb_from(root)
    assert f"{path.name}: YAML syntax: line {line}, column 7: '2026-02-30' is not a valid " in str(
        err.value
    )
