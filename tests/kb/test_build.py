"""The compiled STIX: committed files are current, builds are deterministic, the bundles are
valid for the OASIS validator, stix2 and misp-stix, and shaped for OpenCTI's import rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stix2

from mlstix.kb.build import render_tree
from mlstix.kb.compile import (
    BUNDLE_FILES,
    CLOUD_GUIDANCE_EXTENSION_ID,
    IDENTITY_ID,
    TLP_CLEAR_ID,
)
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.load import load_kb
from mlstix.kb.validate import validate_json

REPO = Path(__file__).resolve().parents[2]
GENERATED = render_tree(load_kb())


def _objects(text: str) -> dict[str, Any]:
    return {o["id"]: o for o in json.loads(text)["objects"]}


@pytest.mark.parametrize("rel", sorted(GENERATED))
def test_committed_file_is_current(rel: str) -> None:
    """Run `mlstix kb build` and commit when this fails."""
    committed = REPO / rel
    assert committed.is_file(), f"{rel} is not committed: run `mlstix kb build`"
    text = committed.read_text(encoding="utf-8")
    if text == GENERATED[rel]:
        return
    if rel.endswith(".json"):
        old, new = _objects(text), _objects(GENERATED[rel])
        stale = sorted(i for i in old.keys() | new.keys() if old.get(i) != new.get(i))
        pytest.fail(f"{rel} is stale for objects {stale}: run `mlstix kb build`")
    pytest.fail(f"{rel} is stale: run `mlstix kb build`")


def test_no_stale_reference_pages() -> None:
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / "docs" / "reference").rglob("*.md")}
    assert on_disk == {r for r in GENERATED if r.startswith("docs/reference/")}


def test_build_is_deterministic(kb: KnowledgeBase) -> None:
    assert render_tree(kb) == GENERATED


@pytest.mark.parametrize("name", sorted(BUNDLE_FILES))
def test_bundle_is_strictly_valid(name: str) -> None:
    document = json.loads(GENERATED[f"stix/{name}"])
    problems = validate_json(document, strict=True)
    assert [str(p) for p in problems] == []


@pytest.mark.parametrize("name", sorted(BUNDLE_FILES))
def test_stix2_parses_bundle_back(name: str) -> None:
    bundle = stix2.parse(GENERATED[f"stix/{name}"], allow_custom=False)
    assert len(bundle.objects) == len(json.loads(GENERATED[f"stix/{name}"])["objects"])


def test_bundle_contents(kb: KnowledgeBase) -> None:
    objs = list(_objects(GENERATED["stix/bundle.json"]).values())
    by_type: dict[str, list[dict[str, Any]]] = {}
    for o in objs:
        by_type.setdefault(o["type"], []).append(o)
    assert len(by_type["attack-pattern"]) == 10
    assert len(by_type["vulnerability"]) == 10
    assert len(by_type["course-of-action"]) == 9
    detections = kb.detections
    assert len(by_type["note"]) == 27 + len(detections.no_rule)
    assert len(by_type["indicator"]) == len(detections.rules)
    assert len(by_type["relationship"]) == sum(
        r.type != "related-to" for r in kb.relationships
    ) + len(detections.rules)
    ours = [o for o in objs if o["type"] not in ("marking-definition",)]
    for o in ours:
        if o["id"].startswith("identity--b3bca3c2") or o["id"].startswith(
            "extension-definition--60a3c5c5"
        ):
            continue  # the OASIS / CISA objects of TLP 2.0
        assert o["created_by_ref"] == IDENTITY_ID, o["id"]
        assert o["object_marking_refs"] == [TLP_CLEAR_ID], o["id"]
    identity = next(o for o in by_type["identity"] if o["id"] == IDENTITY_ID)
    assert identity["identity_class"] == "organization"


def test_tlp_clear_marking_is_verbatim() -> None:
    marking = _objects(GENERATED["stix/bundle.json"])[TLP_CLEAR_ID]
    assert marking == {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        "created": "2022-10-01T00:00:00.000Z",
        "name": "TLP:CLEAR",
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": "clear",
            }
        },
    }


def test_cloud_guidance_in_extension_and_notes(kb: KnowledgeBase) -> None:
    objs = _objects(GENERATED["stix/bundle.json"])
    for coa in kb.courses_of_action:
        ext = objs[coa.id]["extensions"][CLOUD_GUIDANCE_EXTENSION_ID]
        assert set(ext["cloud_guidance"]) == {"aws", "azure", "gcp"}
        for cloud, note_id in coa.note_ids.items():
            note = objs[note_id]
            assert note["object_refs"] == [coa.id]
            # What OpenCTI and MISP drop from the extension they must still see in the note.
            for step in coa.cloud[cloud].steps:
                assert step in note["content"]


def test_no_mitre_source_names_on_our_objects(kb: KnowledgeBase) -> None:
    """OpenCTI would merge an attack pattern into MITRE's on any `mitre-*` source name."""
    ours = {o.id for o in kb.objects}
    for name in BUNDLE_FILES:
        for obj in json.loads(GENERATED[f"stix/{name}"])["objects"]:
            if obj["id"] in ours:
                sources = [r["source_name"] for r in obj.get("external_references", [])]
                assert not any(s.startswith("mitre") for s in sources), obj["id"]


def test_mappings_point_at_canonical_mitre_objects(kb: KnowledgeBase) -> None:
    objs = _objects(GENERATED["stix/mappings.json"])
    rels = [o for o in objs.values() if o["type"] == "relationship"]
    assert rels and all(r["relationship_type"] == "related-to" for r in rels)
    for r in rels:
        target = objs[r["target_ref"]]
        (ref,) = target["external_references"]
        assert ref["source_name"] in ("mitre-atlas", "mitre-attack")
        assert kb.mitre_object(ref["external_id"]).id == target["id"]


def test_misp_stix_converts_the_bundle(tmp_path: Path) -> None:
    from misp_stix_converter import stix_2_to_misp

    src = tmp_path / "bundle.json"
    src.write_text(GENERATED["stix/bundle.json"], encoding="utf-8")
    result = stix_2_to_misp(str(src), output_dir=tmp_path, single_event=True)
    assert "errors" not in result, result.get("errors")
    outputs = list(tmp_path.glob("*.out"))
    assert len(outputs) == 1
    event = json.loads(outputs[0].read_text(encoding="utf-8"))
    text = json.dumps(event)
    assert "Insecure Model Serialization" in text
    assert "ML Model Tampering" in text


def test_diagram_has_every_object_and_edge(kb: KnowledgeBase) -> None:
    diagram = GENERATED["relationship-diagram.md"]
    first = diagram.split("```mermaid", 2)[1]
    for obj in kb.objects:
        assert f'{obj.key.replace("-", "_")}["{obj.name}"]' in first
    edges = [r for r in kb.relationships if r.type != "related-to"]
    assert first.count("|targets|") + first.count("|mitigates|") == len(edges)
    # one diagram per category: 3 + 2 + 3
    assert diagram.count("```mermaid") == 1 + 8


def test_reference_page_per_object(kb: KnowledgeBase) -> None:
    for obj in kb.objects:
        page = GENERATED[f"docs/reference/{obj.kind}/{obj.key}.md"]
        assert page.startswith(f"# {obj.name}\n")
        assert obj.id in page
        if obj.kind == "course-of-action":
            for heading in ("## On AWS", "## On Azure", "## On Google Cloud"):
                assert heading in page
