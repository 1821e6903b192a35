"""The detectors' rules read query by query, in plain Python: what the tests compare the
array and kernel paths with."""

from __future__ import annotations

from mlstix.detect.inference._detectors import PROFILES


def coverage(off: list[bool], profile_name: str) -> tuple[int, float] | None:
    """The coverage test: the first query (1-based) where at least ``ood_min`` queries were
    seen and the share of off-manifold ones reaches the profile's fraction, and that share
    rounded; None if it never does."""
    profile = PROFILES[profile_name]
    total = 0
    for seen, flag in enumerate(off, start=1):
        total += flag
        if seen >= profile.ood_min and total >= profile.ood_fraction * seen:
            return seen, round(total / seen, 4)
    return None
