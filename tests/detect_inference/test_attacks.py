"""The detectors against attacks actually run on a scikit-learn endpoint (see traffic.py):
every attack is found, by the detector family it belongs to, and no honest client is."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstix.kb.graph import KnowledgeBase

pytest.importorskip("sklearn")
from tests.detect_inference import traffic

EXTRACTION = {
    "inference/extraction-prada",
    "inference/extraction-coverage",
    "inference/extraction-synthetic",
}


def _log(tmp: Path, dataset: str, seed: int) -> Path:
    world = traffic.make_world(dataset, seed=seed)
    for index in range(30):
        traffic.honest(world, f"honest-{index}", int(world.rng.integers(20, 200)))
    traffic.random_extraction(world, "attacker-random", 300)
    traffic.jacobian_extraction(world, "attacker-jbda", seeds=20, rounds=4)
    traffic.boundary_attack(world, "attacker-boundary", 300)
    traffic.hopskipjump(world, "attacker-hsj", 400)
    return world.endpoint.write(tmp / f"{dataset}.jsonl")


@pytest.fixture(scope="module", params=[("digits", 7), ("breast_cancer", 8)], ids=str)
def findings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             kb: KnowledgeBase) -> dict[str, set[str]]:  # fmt: skip
    dataset, seed = request.param
    log = _log(tmp_path_factory.mktemp(dataset), dataset, seed)
    return traffic.findings_by_client(log, kb)


def test_no_honest_client_is_flagged(findings: dict[str, set[str]]) -> None:
    assert sorted(c for c in findings if c.startswith("honest")) == []


def test_random_query_extraction_is_found(findings: dict[str, set[str]]) -> None:
    assert findings.get("attacker-random", set()) & EXTRACTION


def test_jacobian_augmentation_extraction_is_found(findings: dict[str, set[str]]) -> None:
    assert findings.get("attacker-jbda", set()) & EXTRACTION


@pytest.mark.parametrize("client", ["attacker-boundary", "attacker-hsj"])
def test_decision_based_probing_is_found(findings: dict[str, set[str]], client: str) -> None:
    assert "inference/adversarial-probing" in findings.get(client, set())
