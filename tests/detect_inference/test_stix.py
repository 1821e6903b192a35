"""Inference findings leave as STIX: sightings of the attack pattern the client carried out,
strict-valid with references enforced."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlstix.detect.inference import InferenceOptions, detect_inference
from mlstix.findings.formats import render
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.validate import validate_json


def test_a_probing_client_is_a_sighting_of_adversarial_examples(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    rng = np.random.default_rng(3)
    lines = [
        json.dumps({"client": f"user{i % 30}", "input": rng.normal(size=8).tolist()})
        for i in range(1500)
    ]
    origin = rng.normal(size=8)
    lines += [
        json.dumps({"client": "prober", "input": (origin + rng.normal(size=8) * 1e-3).tolist()})
        for _ in range(40)
    ]
    log = tmp_path / "traffic.jsonl"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = detect_inference([str(log)], kb, InferenceOptions())
    assert {f.evidence["client"] for f in report.findings} == {"prober"}
    bundle = json.loads(render("stix", report, kb))
    assert validate_json(bundle, strict=True) == []
    pattern = next(a for a in kb.attack_patterns if a.key == "ml-adversarial-example-attacks")
    sightings = [o for o in bundle["objects"] if o["type"] == "sighting"]
    assert sightings and all(s["sighting_of_ref"] == pattern.id for s in sightings)
    assert any(o["id"] == pattern.id for o in bundle["objects"])
