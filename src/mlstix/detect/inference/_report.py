"""Findings from detections: the rule, the knowledge-base terms and the evidence a client's
detection carries (see ``docs/detect-inference.md``)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from mlstix.detect.inference._detectors import ClientState, Detection
from mlstix.detect.inference._terms import Terms
from mlstix.findings.model import Finding, Location

__all__ = ["MIN_BASELINE", "MIN_QUERIES", "finding", "not_enough"]

MIN_QUERIES = 10  # fewer than this from a client is "not enough data"
MIN_BASELINE = 20

_RULES = {
    "prada": "inference/extraction-prada",
    "coverage": "inference/extraction-coverage",
    "probing": "inference/adversarial-probing",
    "steps": "inference/extraction-synthetic",
}
_ATTACK = {
    "prada": "ml-model-extraction",
    "coverage": "ml-model-extraction",
    "probing": "ml-adversarial-example-attacks",
    "steps": "ml-model-extraction",
}


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(detection: Detection, state: ClientState) -> str:
    stat = detection.statistic
    if detection.detector == "prada":
        return (
            f"the distances between its queries are not normally distributed (Shapiro–Wilk "
            f"W = {stat['shapiro_wilk_w']} < {stat['delta']}), as synthetic extraction queries are"
        )
    if detection.detector == "steps":
        return (
            f"{stat['sign_steps_in_window']} of its last {stat['window']} queries repeat the "
            "per-feature step of another from an earlier query, as synthetic extraction "
            "queries made by Jacobian-based augmentation do"
        )
    if detection.detector == "coverage":
        return (
            f"{stat['off_manifold_share']:.0%} of its queries lie off the endpoint's natural "
            f"input distribution (threshold {stat['threshold']:.0%}), as extraction sweeps of "
            "the input space and adversarial searches do"
        )
    return (
        f"{stat['near_duplicates_in_window']} of its last {stat['window']} queries are near "
        "duplicates of earlier ones, as query-based adversarial attacks send"
    )


def finding(
    terms: Terms, client: str, state: ClientState, detection: Detection, median: float
) -> Finding:
    rule = terms.rule(_RULES[detection.detector])
    span = f"{_iso(state.first_time)} to {_iso(state.last_time)}" if state.first_time else ""
    message = (
        f"client {client}: {state.queries} queries{' from ' + span if span else ''}; "
        f"{_describe(detection, state)}; flagged at query {detection.query}"
    )
    evidence: dict[str, Any] = {
        "client": client,
        "detector": detection.detector,
        "attack_pattern": _ATTACK[detection.detector],
        "queries": state.queries,
        "queries_until_detection": detection.query,
        "first_seen": _iso(state.first_time),
        "last_seen": _iso(state.last_time),
        "detected_at": _iso(detection.time),
        "volume_vs_median_client": round(state.queries / median, 2) if median else None,
        **detection.statistic,
    }
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        title=terms.title(rule.vulnerability),
        message=message,
        location=Location(detection.path, line=detection.line or None, resource=client),
        vulnerability=rule.vulnerability,
        courses_of_action=rule.courses_of_action,
        evidence={k: v for k, v in evidence.items() if v is not None},
    )


def not_enough(terms: Terms, volumes: Counter[str], judged: bool, few: int, path: str) -> Finding:
    rule = terms.rule("inference/not-enough-data")
    total = len(volumes)
    if not judged:
        message = (
            f"only {sum(volumes.values())} queries could be read: too few to learn the "
            f"endpoint's baseline (at least {MIN_BASELINE}); no client was judged"
        )
    else:
        message = (
            f"{few} of {total} clients sent fewer than {MIN_QUERIES} queries: too few to judge "
            "their query distribution"
        )
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        title=terms.title(rule.vulnerability),
        message=message,
        location=Location(path),
        vulnerability=rule.vulnerability,
        courses_of_action=rule.courses_of_action,
        evidence={"clients": total, "clients_with_too_few_queries": few},
    )
