"""The judging shortcuts against plain definitions: the nearest earlier query (ranked in
float32, measured in float64) against a brute-force search, PRADA followed class by class
against a query-by-query reading of its rules, the repeated-step memory across batch cuts,
and the ring that holds PRADA's distance set against a deque."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from mlstix.detect.inference._baseline import Baseline
from mlstix.detect.inference._detectors import PROFILES, ClientState, Where
from mlstix.detect.inference._nearest import nearest_in_window
from mlstix.detect.inference._prada import Prada, Ring
from mlstix.detect.inference._steps import StepMemory, repeated_steps


def _brute_nearest(
    history: np.ndarray, batch: np.ndarray, window: int
) -> tuple[list[float], list[int]]:
    """Each query's nearest among the ``window`` before it, exactly; the earliest on a tie."""
    pool = np.concatenate([history, batch]).astype(np.float64)
    distances, chosen = [], []
    for i in range(len(history), len(pool)):
        best, where = math.inf, -1
        for j in range(max(0, i - window), i):
            square = float(np.sum((pool[i] - pool[j]) ** 2))
            if square < best:
                best, where = square, j
        distances.append(math.sqrt(best))
        chosen.append(where)
    return distances, chosen


def _check_nearest(history: np.ndarray, batch: np.ndarray, window: int) -> None:
    with threadpool_limits(1, "blas"):
        nearest, previous = nearest_in_window(history, batch, window)
    distances, chosen = _brute_nearest(history, batch, window)
    pool = np.concatenate([history, batch])
    for row, (d, where) in enumerate(zip(distances, chosen, strict=True)):
        if where < 0:
            assert nearest[row] == math.inf and np.isnan(previous[row]).all()
            continue
        assert nearest[row] == pytest.approx(d, rel=1e-12, abs=1e-300)
        # the same point (an identical copy is as good as the one the search chose)
        assert np.array_equal(previous[row], pool[where])


@pytest.mark.parametrize("seed", range(4))
def test_nearest_matches_a_brute_force_search(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dim = int(rng.integers(2, 40))
    points = rng.normal(size=(300, dim)).astype(np.float32) * np.float32(rng.uniform(0.1, 50))
    points[rng.random(300) < 0.2] = points[5]  # repeats, some of them within a window
    walk = points[40] + np.cumsum(rng.normal(size=(80, dim)) * 1e-4, axis=0)  # a probing walk
    points[100:180] = walk.astype(np.float32)
    for h, window in ((0, 200), (37, 7), (200, 200), (150, 64)):
        _check_nearest(points[:h], points[h:], window)


def test_nearest_tells_apart_what_float32_cannot() -> None:
    # the batch's first query lies far off, so the float32 ranking (centred on it) cannot
    # resolve two candidates of the second query whose squared distances differ by 1e-6:
    # the exact measurement picks the truly nearer, later one
    base = np.full(16, 3.0, dtype=np.float32)
    earlier, later = base.copy(), base.copy()
    earlier[0] += np.float32(1.0)
    later[1] = np.float32(4.0) - np.float32(2.0**-21)  # 1 - 2**-21 from the query
    far_off = base + np.float32(5000.0)
    _check_nearest(np.stack([earlier, later]), np.stack([far_off, base]), 200)
    with threadpool_limits(1, "blas"):
        _, previous = nearest_in_window(np.stack([earlier, later]), np.stack([far_off, base]), 9)
    assert np.array_equal(previous[1], later)


def test_nearest_with_values_float32_cannot_square() -> None:
    rng = np.random.default_rng(9)
    points = (rng.normal(size=(60, 5)) * 1e17).astype(np.float32)  # squares pass 3.4e38
    points[30] = points[10]
    _check_nearest(points[:20], points[20:], 16)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 30),
    st.integers(1, 90),
    st.integers(1, 40),
    st.integers(1, 6),
    st.integers(0, 2**32 - 1),
)
def test_nearest_on_small_random_pools(h: int, k: int, window: int, dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, 3, size=(h + k, dim)).astype(np.float32)  # many exact ties
    _check_nearest(levels[:h], levels[h:], window)


def _reference_prada(
    pieces: list[tuple[np.ndarray, np.ndarray]], cap: int, maxlen: int, repeat: float
) -> tuple[list[float], dict[int, int], dict[int, float]]:
    """PRADA read query by query: within a piece, class by class in the order of the labels
    (classes registered in that order; past 256 they share set -2), each class's queries in
    order; a query's distance to its class's growing set joins D unless it is a repeat; it
    joins the set when it passes the threshold (which rises to mean - std of the accepted
    distances), while the set has room."""
    registered: set[int] = set()
    sets: dict[int, list[np.ndarray]] = {}
    stats: dict[int, list[float]] = {}
    distances: deque[float] = deque(maxlen=maxlen)

    def register(label: int) -> int:
        if label in registered:
            return label
        if len(registered) >= 256:
            label = -2
        registered.add(label)
        return label

    for batch, labels in pieces:
        mapped = {label: register(label) for label in sorted(set(labels.tolist()))}
        ids = [mapped[label] for label in labels.tolist()]
        for i in sorted(range(len(batch)), key=lambda i: (ids[i], i)):
            group = ids[i]
            point = batch[i].astype(np.float64)
            members = sets.setdefault(group, [])
            threshold, n, total, squares = stats.setdefault(group, [0.0, 0.0, 0.0, 0.0])
            d = min((math.dist(point, m) for m in members), default=math.inf)
            if d != math.inf:
                if d <= repeat:
                    continue
                distances.append(d)
                if d <= threshold:
                    continue
                n, total, squares = n + 1, total + d, squares + d * d
                mean = total / n
                threshold = max(threshold, mean - math.sqrt(max(0.0, squares / n - mean * mean)))
                stats[group] = [threshold, n, total, squares]
            if len(members) < cap:
                members.append(point)
    sizes = {group: len(members) for group, members in sets.items()}
    return list(distances), sizes, {group: s[0] for group, s in stats.items()}


@pytest.mark.parametrize(("classes", "cap", "seed"), [(3, 512, 1), (2, 9, 2), (300, 4, 3)])
def test_prada_class_by_class_matches_the_rules_read_query_by_query(
    classes: int, cap: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    count, dim = 700, 5
    points = rng.normal(size=(count, dim)).astype(np.float32)
    points[rng.random(count) < 0.1] = points[7]  # repeated queries
    points[400:500] = points[400] + np.cumsum(rng.normal(size=(100, dim)) * 0.01, axis=0)
    labels = rng.integers(0, classes, size=count)
    cuts = np.sort(rng.choice(np.arange(1, count), size=30, replace=False))
    batches = np.split(np.arange(count), cuts)
    prada = Prada(dim, 300, cap=cap)
    pieces = []
    with threadpool_limits(1, "blas"):
        for rows in batches:
            inner = sorted({len(rows), *rng.integers(1, len(rows) + 1, size=2).tolist()})
            stops = list(prada.add_pieces(points[rows], labels[rows], inner, 1e-3))
            assert stops == inner
            for low, high in zip([0, *inner[:-1]], inner, strict=True):
                pieces.append((points[rows[low:high]], labels[rows[low:high]]))
    distances, sizes, thresholds = _reference_prada(pieces, cap, 300, 1e-3)
    assert prada.distances.values() == pytest.approx(distances, rel=1e-9)
    assert len(prada.distances) == len(distances)
    assert {c: int(s[0]) for c, s in prada._stats.items()} == {
        c: sizes.get(c, 0) for c in prada._stats
    }
    assert {c: s[1] for c, s in prada._stats.items()} == pytest.approx(
        {c: thresholds.get(c, 0.0) for c in prada._stats}, rel=1e-9
    )
    if classes > 256:
        assert -2 in prada._stats  # classes past 256 share a set


def test_the_ring_holds_what_a_deque_holds() -> None:
    rng = np.random.default_rng(6)
    ring, plain = Ring(50), deque[float](maxlen=50)
    for _ in range(200):
        values = rng.random(int(rng.integers(0, 80)))
        ring.extend(values)
        plain.extend(values.tolist())
        assert len(ring) == len(plain)
        assert ring.values().tolist() == list(plain)


def test_the_step_memory_gives_the_same_verdicts_however_the_steps_are_cut() -> None:
    rng = np.random.default_rng(8)
    dim = 12
    steps = np.abs(rng.normal(size=(600, dim))).astype(np.float32)
    lam = rng.uniform(0.1, 2.0, size=dim).astype(np.float32)
    steps[200:320] = lam * rng.uniform(0.98, 1.02, size=(120, dim)).astype(np.float32)
    steps[rng.random(600) < 0.05] = np.nan
    ends = rng.normal(size=(600, 2))
    with threadpool_limits(1, "blas"):
        whole = repeated_steps(steps, ends, steps[:0], ends[:0])
        memory = StepMemory(dim)
        cuts = np.split(np.arange(600), np.sort(rng.choice(np.arange(1, 600), 25, replace=False)))
        parts = np.concatenate([memory.judge(steps[rows], ends[rows]) for rows in cuts])
    assert parts.tolist() == whole.tolist()
    assert 50 < whole.sum() < 200


def test_prada_distance_set_does_not_depend_on_where_batches_end() -> None:
    # a full distance set (window 50: 200 distances) drops its oldest values as queries come;
    # within a segment of 64 queries they join class by class, and a batch that ends inside a
    # segment must not change that order (it decides which values are dropped first)
    rng = np.random.default_rng(11)
    dim, count = 4, 1500
    queries = rng.normal(size=(count, dim)).astype(np.float32)
    labels = rng.integers(0, 4, count)
    off = np.zeros(count, dtype=bool)
    where = Where(["log"], np.zeros(count, np.int64), np.arange(1, count + 1),
                  np.full(count, np.nan))  # fmt: skip
    zeros = np.zeros(dim, dtype=np.float32)
    ref = rng.normal(size=(64, dim)).astype(np.float32)
    baseline = Baseline(zeros, zeros + 1, ref, np.arange(64), 1.0, 9.0, 0.0, zeros + 1)
    seen = []
    for cuts in ([count], [100, 37, 300, 1, 62, 1000], [13] * 116):
        state = ClientState(dim, 50, PROFILES["balanced"])
        start = 0
        with threadpool_limits(1, "blas"):
            for size in [*cuts, count]:
                rows = np.arange(start, min(start + size, count))
                if len(rows):
                    state.update(queries[rows], labels[rows], off[rows], where.take(rows), baseline)
                start += size
        assert state.queries == count
        seen.append((state._prada.distances.values(), state.last_w))
    for values, last_w in seen[1:]:
        assert values == pytest.approx(seen[0][0], rel=1e-12)
        assert last_w == pytest.approx(seen[0][1], rel=1e-12)
