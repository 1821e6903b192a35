"""The coverage detector's batch shortcut (a batch with no off-manifold query is decided by its
first query tested) fires at the query, with the statistic, that the rule read query by query
gives, however the client's queries are cut into batches."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlstix.detect.inference._baseline import Baseline
from mlstix.detect.inference._detectors import PROFILES, ClientState, Where
from tests.detect_inference import rules

DIM = 3


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.booleans(), min_size=1, max_size=60),  # an early pattern of off-manifold queries
    st.integers(0, 300),  # then this many on the manifold
    st.lists(st.integers(1, 90), min_size=1, max_size=8),  # batch sizes, repeated
    st.sampled_from(["balanced", "strict"]),
)
def test_coverage_fires_where_the_rule_says(
    head: list[bool], tail: int, sizes: list[int], profile_name: str
) -> None:
    off = np.array(head + [False] * tail)
    count = len(off)
    rng = np.random.default_rng(count)
    queries = rng.normal(size=(count, DIM)).astype(np.float32) * 10.0  # far apart: no probing
    zeros = np.zeros(DIM, dtype=np.float32)
    ref = rng.normal(size=(8, DIM)).astype(np.float32)
    baseline = Baseline(zeros, zeros + 1, ref, np.arange(8), 1e-3, 4.0, 0.0, zeros + 1)
    where = Where(["log"], np.zeros(count, np.int64), np.arange(1, count + 1),
                  np.full(count, np.nan))  # fmt: skip
    state = ClientState(DIM, 50, PROFILES[profile_name])
    start, turn = 0, 0
    while start < count:
        stop = min(count, start + sizes[turn % len(sizes)])
        rows = np.arange(start, stop)
        state.update(queries[rows], np.zeros(len(rows), np.int64), off[rows],
                     where.take(rows), baseline)  # fmt: skip
        start, turn = stop, turn + 1
    want = rules.coverage(off.tolist(), profile_name)
    got = state.detections.get("coverage")
    assert (None if got is None else (got.query, got.statistic["off_manifold_share"])) == want
    assert state.off_manifold == int(off.sum())
