"""The compiled nearest-earlier-query kernel (``_kernel.nearest``) against its NumPy twin
(``_nearest._search``/``_measure``) and a brute-force search: the same queries and the same
distances bit for bit, on random pools with duplicates, near-ties, NaN and infinite rows and
values of 1e15 and more; and wrong arguments refused with ValueError, never a crash."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from mlstix.detect.inference import _nearest

kernel = pytest.importorskip(
    "mlstix.detect.inference._kernel", reason="the C kernel is not built (no compiler?)"
)

_SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]  # the fixture is a mode


pytestmark = pytest.mark.usefixtures("simd_variant")  # every test runs each SIMD variant


def _kernel(pool: np.ndarray, h: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.empty(len(pool) - h, dtype=np.int64)
    distance = np.empty(len(pool) - h, dtype=np.float64)
    kernel.nearest(pool, h, window, index, distance)
    return index, distance


def _numpy(pool: np.ndarray, h: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    with threadpool_limits(1, "blas"):
        index = _nearest._search(pool, h, window)
    return index, _nearest._measure(pool, h, index)


def _brute(pool: np.ndarray, h: int, window: int) -> list[int]:
    """Each row's nearest by the in-order float64 sum, the earliest on a tie; rows with a
    NaN or an infinity have none and are nobody's."""
    wide = pool.astype(np.float64)
    finite = np.asarray(np.isfinite(wide).all(axis=1))
    chosen = []
    for p in range(h, len(pool)):
        best, where = math.inf, -1
        for c in range(max(0, p - window), p):
            if not (finite[p] and finite[c]):
                continue
            square = 0.0
            for a, b in zip(wide[p].tolist(), wide[c].tolist(), strict=True):
                square += (a - b) * (a - b)
            if square < best:
                best, where = square, c
        chosen.append(where)
    return chosen


@st.composite
def pools(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    dim = draw(st.integers(1, 200))
    rows = draw(st.integers(1, 120))
    h = draw(st.integers(0, rows))
    window = draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.integers(-6, 20))  # up to 1e20: past float32 ranking's range
    pool = (rng.normal(size=(rows, dim)) * scale).astype(np.float32)
    if draw(st.booleans()):  # exact duplicates: repeated queries within the window
        pool[rng.random(rows) < 0.3] = pool[int(rng.integers(rows))]
    if draw(st.booleans()):  # ties and near-ties: steps of equal or adjacent lengths
        base = pool[int(rng.integers(rows))].copy()
        for r in rng.choice(rows, size=min(rows, 8), replace=False):
            moved = base.copy()
            j = int(rng.integers(dim))
            step = np.float32(scale * 1e-3)
            if rng.random() < 0.5:
                step = np.nextafter(step, np.float32(np.inf))
            moved[j] = base[j] + step if rng.random() < 0.5 else base[j] - step
            pool[r] = moved
    if draw(st.booleans()):  # a walk of tiny steps, as a probing attack sends
        start = int(rng.integers(rows))
        count = min(rows - start, 30)
        walk = pool[start] + np.cumsum(rng.normal(size=(count, dim)) * scale * 1e-5, axis=0)
        pool[start : start + count] = walk.astype(np.float32)
    for value in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=3)):
        pool[int(rng.integers(rows)), int(rng.integers(dim))] = value
    if draw(st.booleans()):
        pool[int(rng.integers(rows)), int(rng.integers(dim))] = np.float32(3e38)
    return pool, h, window


@settings(max_examples=150, deadline=None, suppress_health_check=_SLOW)
@given(pools())
def test_kernel_and_numpy_find_the_same_queries_at_the_same_distances(
    case: tuple[np.ndarray, int, int],
) -> None:
    pool, h, window = case
    with np.errstate(all="ignore"):
        index, distance = _kernel(pool, h, window)
        ref_index, ref_distance = _numpy(pool, h, window)
    assert index.tolist() == ref_index.tolist()
    assert distance.tobytes() == ref_distance.tobytes()  # bit for bit, inf where none


@settings(max_examples=40, deadline=None, suppress_health_check=_SLOW)
@given(pools())
def test_kernel_matches_a_brute_force_search(case: tuple[np.ndarray, int, int]) -> None:
    pool, h, window = case
    pool, window = pool[:, :24], min(window, 40)  # the brute force is slow
    pool = np.ascontiguousarray(pool)
    index, _ = _kernel(pool, h, window)
    assert index.tolist() == _brute(pool, h, window)


def test_nearest_in_window_takes_the_kernel_and_gives_the_numpy_answer() -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(size=(500, 64)).astype(np.float32)
    points[rng.random(500) < 0.1] = points[7]
    with threadpool_limits(1, "blas"):
        nearest, previous = _nearest.nearest_in_window(points[:200], points[200:], 200)
    index, distance = _numpy(points, 200, 200)
    assert nearest.tobytes() == distance.tobytes()
    assert np.array_equal(previous, points[index])


def test_single_queries_and_empty_history() -> None:
    one = np.ones((1, 5), dtype=np.float32)
    assert _kernel(one, 0, 10)[0].tolist() == [-1]
    assert _kernel(one, 1, 10)[0].tolist() == []
    empty = np.empty((0, 5), dtype=np.float32)
    assert _kernel(empty, 0, 10)[0].tolist() == []
    nearest, previous = _nearest.nearest_in_window(empty, one, 10)
    assert nearest.tolist() == [math.inf] and np.isnan(previous).all()
    two = np.array([[1.0, 2.0], [1.0, 2.0]], dtype=np.float32)
    index, distance = _kernel(two, 0, 0)  # a window of none
    assert index.tolist() == [-1, -1] and distance.tolist() == [math.inf, math.inf]


def test_a_query_with_an_infinity_does_not_blind_the_others() -> None:
    # one hostile query (a value float32 cannot hold once scaled) must not hide the
    # near-duplicates around it, whichever path runs
    base = np.arange(8, dtype=np.float32)
    batch = np.stack([base, base + np.float32(1e-3), base + np.float32(2e-3)])
    batch[0, 3] = np.inf
    history = np.stack([base + 1])
    for path in (_kernel, _numpy):
        with np.errstate(all="ignore"):
            index, distance = path(np.concatenate([history, batch]), 1, 200)
        assert index.tolist() == [-1, 0, 2]
        assert distance[0] == math.inf and distance[2] < 2e-2


@pytest.mark.parametrize(
    ("pool", "start", "window", "index", "distance", "message"),
    [
        (np.zeros((4, 3), np.float64), 0, 5, np.empty(4, np.int64), np.empty(4), "pool"),
        (np.zeros((4, 6), np.float32)[:, ::2], 0, 5, np.empty(4, np.int64), np.empty(4), "pool"),
        (np.zeros(12, np.float32), 0, 5, np.empty(12, np.int64), np.empty(12), "pool"),
        (np.zeros((4, 3), np.float32), 0, 5, np.empty(3, np.int64), np.empty(4), "entry"),
        (np.zeros((4, 3), np.float32), 1, 5, np.empty(4, np.int64), np.empty(4), "entry"),
        (np.zeros((4, 3), np.float32), 5, 5, np.empty(0, np.int64), np.empty(0), "start"),
        (np.zeros((4, 3), np.float32), -1, 5, np.empty(5, np.int64), np.empty(5), "start"),
        (np.zeros((4, 3), np.float32), 0, -1, np.empty(4, np.int64), np.empty(4), "window"),
        (np.zeros((4, 3), np.float32), 0, 5, np.empty(4, np.int32), np.empty(4), "index"),
        (
            np.zeros((4, 3), np.float32),
            0,
            5,
            np.empty(4, np.int64),
            np.empty(4, np.float32),
            "distance",
        ),
        (b"abcdabcdabcd", 0, 5, np.empty(4, np.int64), np.empty(4), "pool"),
        ([[1.0]], 0, 5, np.empty(1, np.int64), np.empty(1), "pool"),
    ],
)
def test_wrong_arguments_are_refused(
    pool: object, start: int, window: int, index: object, distance: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        kernel.nearest(pool, start, window, index, distance)


def test_read_only_outputs_are_refused() -> None:
    index = np.empty(2, np.int64)
    index.setflags(write=False)
    with pytest.raises(ValueError, match="index"):
        kernel.nearest(np.zeros((2, 2), np.float32), 0, 1, index, np.empty(2))


def _brute_distance(pool: np.ndarray, p: int, c: int) -> float:
    """The in-order float64 sum of squared differences of rows p and c, rooted."""
    square = 0.0
    for a, b in zip(pool[p].astype(np.float64).tolist(), pool[c].astype(np.float64).tolist(),
                    strict=True):  # fmt: skip
        square += (a - b) * (a - b)
    return math.sqrt(square)


@pytest.mark.parametrize("dim", [1, 7, 8, 30, 64, 65])
def test_queries_ranked_four_at_a_time_keep_their_exact_sums(dim: int) -> None:
    """The AVX variants rank four queries against each loaded candidate at once (their
    windows differ by a row each); every query still gets the brute-force nearest and the
    in-order float64 distance to it, bit for bit, for any number of new queries (not a
    multiple of four), any start and windows shorter and longer than the pool; a probing walk
    (near-duplicates one step apart) and repeats included."""
    rng = np.random.default_rng(dim)
    base = rng.normal(size=dim)
    walk = base + np.cumsum(rng.normal(size=(40, dim)) * 1e-4, axis=0)  # probing
    pool = np.concatenate([rng.normal(size=(40, dim)) * 3, walk, walk[::7]]).astype(np.float32)
    for h in (0, 1, 5, 38):
        for window in (1, 3, 8, 9, 33, 500):
            for end in (h + 1, h + 2, h + 5, h + 7, len(pool)):
                part = np.ascontiguousarray(pool[:end])
                index, distance = _kernel(part, h, window)
                assert index.tolist() == _brute(part, h, window)
                for p, (c, got) in enumerate(zip(index.tolist(), distance.tolist(),
                                                 strict=True), start=h):  # fmt: skip
                    assert got == (math.inf if c < 0 else _brute_distance(part, p, c))
