"""What README.md and docs/stix.md say the STIX files hold is what they hold (the counts had
gone stale: 45 relationships and 27 notes, when the bundle carried 87 and 29)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _objects(name: str) -> list[dict[str, object]]:
    objects: list[dict[str, object]] = json.loads((REPO / "stix" / name).read_text())["objects"]
    return objects


def _ours(objects: list[dict[str, object]]) -> str:
    return next(str(o["id"]) for o in objects if o["type"] == "identity" and o["name"] == "mlstix")


def _refs(note: dict[str, object]) -> list[object]:
    refs = note["object_refs"]
    assert isinstance(refs, list)
    return refs


def _bundle_counts() -> dict[str, int]:
    objects = _objects("bundle.json")
    kinds = Counter(str(o["type"]) for o in objects)
    relationships = Counter(
        str(o["relationship_type"]) for o in objects if o["type"] == "relationship"
    )
    notes = [o for o in objects if o["type"] == "note"]
    on_coas = len(
        [n for n in notes if all(str(r).startswith("course-of-action--") for r in _refs(n))]
    )
    mappings = _objects("mappings.json")
    ours = _ours(mappings)
    stubs = sum(
        1
        for o in mappings
        if o["type"] in ("attack-pattern", "course-of-action") and o.get("created_by_ref") != ours
    )
    return {
        "attack-pattern": kinds["attack-pattern"],
        "vulnerability": kinds["vulnerability"],
        "course-of-action": kinds["course-of-action"],
        "objects": kinds["attack-pattern"] + kinds["vulnerability"] + kinds["course-of-action"],
        "note": kinds["note"],
        "guidance notes": on_coas,
        "other notes": kinds["note"] - on_coas,
        "indicator": kinds["indicator"],
        "relationship": kinds["relationship"],
        "between objects": relationships["targets"] + relationships["mitigates"],
        "indicates": relationships["indicates"],
        "report": kinds["report"],
        "stubs": stubs,
    }


def _said(text: str, pattern: str) -> int:
    match = re.search(pattern, text)
    assert match, f"the docs no longer say {pattern!r}"
    return int(match.group(1))


_STIX_MD = {
    "attack-pattern": r"\| `attack-pattern` \| (\d+) \|",
    "vulnerability": r"\| `vulnerability` \| (\d+) \|",
    "course-of-action": r"\| `course-of-action` \| (\d+) \|",
    "note": r"\| `note` \| (\d+) \|",
    "guidance notes": r"\| `note` \| \d+ \| (\d+) on courses of action",
    "other notes": r"\| `note` \| .*; (\d+) on the attack patterns",
    "indicator": r"\| `indicator` \| (\d+) \|",
    "relationship": r"\| `relationship` \| (\d+) \|",
    "between objects": r"\| `relationship` \| \d+ \| (\d+) `targets`",
    "indicates": r"\| `relationship` \| .*; (\d+) `indicates`",
    "report": r"\| `report` \| (\d+) \|",
    "stubs": r"\| MITRE `attack-pattern` / `course-of-action` stubs \| (\d+) \|",
}

_README = {
    "attack-pattern": r"\*\*A knowledge base published as STIX 2.1\*\*: (\d+) attack patterns",
    "vulnerability": r"(\d+) vulnerabilities and \d+\s+courses of action",
    "course-of-action": r"\d+ vulnerabilities and (\d+)\s+courses of action",
    "between objects": r"the (\d+) relationships between\s+them",
    "indicator": r"(\d+) Sigma detection rules as indicators",
    "objects": r"extension definitions, (\d+) objects",
    "guidance notes": r"(\d+) cloud-guidance notes",
    "other notes": r"(\d+) notes on attack patterns no audit log shows",
    "relationship": r"(\d+) relationships \(\d+ between the objects",
    "indicates": r"relationships \(\d+ between the objects, (\d+) `indicates`\)",
}


@pytest.mark.parametrize(
    ("doc", "patterns"), [("docs/stix.md", _STIX_MD), ("README.md", _README)], ids=str
)
def test_the_counts_the_docs_give_are_the_bundles(doc: str, patterns: dict[str, str]) -> None:
    text = (REPO / doc).read_text(encoding="utf-8")
    actual = _bundle_counts()
    wrong = {
        name: (said, actual[name])
        for name, pattern in patterns.items()
        if (said := _said(text, pattern)) != actual[name]
    }
    assert not wrong, f"{doc} says (said, actual): {wrong}"
