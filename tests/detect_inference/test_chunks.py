"""Rows transformed and tested off-manifold a chunk at a time give the report the whole batch
at once gave; the findings' terms read lightly give the report a loaded knowledge base gave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlstix.detect.inference import InferenceOptions, _baseline, detect_inference
from mlstix.kb.graph import KnowledgeBase
from tests.detect_inference.test_columnar import _summary, _traffic


def test_chunked_off_manifold_and_transform_give_the_same_report(
    tmp_path: Path, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "capture.jsonl"
    log.write_text("\n".join(_traffic(np.random.default_rng(8))) + "\n", encoding="utf-8")
    options = InferenceOptions(client_key="inference-id-prefix::", columnar=False)
    monkeypatch.setattr(_baseline, "_CHUNK", 1 << 30)  # the whole batch at once
    whole = detect_inference([str(log)], kb, options)
    monkeypatch.setattr(_baseline, "_CHUNK", 7)
    chunked = detect_inference([str(log)], kb, options)
    light = detect_inference([str(log)], None, options)
    assert whole.findings and _summary(chunked) == _summary(whole)
    assert light.to_json() == whole.to_json()


def test_chunked_methods_match_on_random_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(1000, 9)).astype(np.float32)
    owners = rng.integers(-1, 5, size=1000)
    base = _baseline.Baseline(
        center=rng.normal(size=9).astype(np.float32),
        scale=rng.uniform(0.5, 2, size=9).astype(np.float32),
        reference=rng.normal(size=(64, 9)).astype(np.float32),
        reference_owners=rng.integers(0, 5, size=64),
        nn_radius=1.0,
        ood_radius=3.0,
        prada_delta=0.9,
        step_unit=np.ones(9, dtype=np.float32),
    )
    monkeypatch.setattr(_baseline, "_CHUNK", 1 << 30)
    scaled = base.transform(vectors)
    far = base.off_manifold(scaled, owners)
    monkeypatch.setattr(_baseline, "_CHUNK", 33)
    assert np.array_equal(base.transform(vectors), scaled)
    assert np.array_equal(base.off_manifold(scaled, owners), far)
    assert 0 < far.sum() < len(far)
