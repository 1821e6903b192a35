"""PRADA's compiled kernel (``_kprada``) against its NumPy twin (``_psets.NumpySets``,
``_stats.shapiro_w``) and against PRADA's rules read query by query in plain Python: the same
distances, decisions, thresholds, members and W, bit for bit, on random streams with exact
duplicates, near-ties, values of 1e15 and more and infinite values, cut into batches anywhere;
the distance set and W independent of the cuts; and the calibration's delta identical."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from mlstix.detect.inference._prada import Prada, calibrate_prada
from mlstix.detect.inference._psets import KernelSets, NumpySets
from mlstix.detect.inference._stats import shapiro_w

kprada = pytest.importorskip(
    "mlstix.detect.inference._kprada", reason="the C kernel is not built (no compiler?)"
)

_SEGMENT = 64  # as _detectors: PRADA's pieces end at the client's 64th, 128th, ... query


def _stream(seed: int, count: int, dim: int, classes: int, scale: float, inf: bool) -> tuple[
    np.ndarray, np.ndarray
]:  # fmt: skip
    """Queries with exact duplicates, near-ties (a point and copies moved by an ulp or so), a
    cluster of small steps, and optionally values scaled to 1e15+ and infinite values."""
    rng = np.random.default_rng(seed)
    points = (rng.normal(size=(count, dim)) * scale).astype(np.float32)
    if inf:  # repeats of this row are NaN apart (inf - inf), the others infinitely far
        points[min(1, count - 1), rng.integers(0, dim)] = np.inf
    if count > 4:
        points[rng.random(count) < 0.15] = points[1]  # exact repeats
        ties = rng.random(count) < 0.1
        points[ties] = np.nextafter(points[2], np.float32(np.inf))  # near-ties of points[2]
        start = count // 2
        walk = np.cumsum(rng.normal(size=(count - start, dim)) * 0.01 * scale, axis=0)
        points[start:] = (points[start] + walk).astype(np.float32)
    if inf:
        points[rng.integers(0, count), rng.integers(0, dim)] = -np.inf
    labels = rng.integers(0, classes, size=count).astype(np.int64)
    return points, labels


def _cuts(rng: np.random.Generator, count: int, pieces: int) -> list[int]:
    return sorted({*rng.integers(1, count + 1, size=pieces).tolist(), count})


def _feed_sets(sets: KernelSets | NumpySets, points: np.ndarray, labels: np.ndarray,
               cuts: list[int], repeat: float) -> list[bytes]:  # fmt: skip
    out, start = [], 0
    with threadpool_limits(1, "blas"):
        for stop in cuts:
            best = sets.add(points[start:stop], labels[start:stop], repeat)
            # a NaN's sign and payload mean nothing (NumPy's own loops differ there)
            out.append(np.where(np.isnan(best), np.nan, best).tobytes())
            start = stop
    return out


def _groups(sets: KernelSets | NumpySets, classes: int) -> list[tuple[object, ...]]:
    return [(*sets.group(c)[:5], sets.group(c)[5].tobytes()) for c in range(classes)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 400),  # queries
    st.integers(1, 200),  # features
    st.integers(1, 10),  # classes
    st.sampled_from([1.0, 1e-3, 1e15, 3e17]),  # scale of the values
    st.sampled_from([1, 3, 40, 512]),  # cap
    st.sampled_from([0.0, 1e-3, 0.5]),  # repeat
    st.booleans(),  # an infinite value
    st.integers(0, 2**32 - 1),
)
def test_kernel_and_numpy_sets_give_the_same_bits(
    count: int, dim: int, classes: int, scale: float, cap: int, repeat: float, inf: bool,
    seed: int,
) -> None:  # fmt: skip
    points, labels = _stream(seed, count, dim, classes, scale, inf)
    cuts = _cuts(np.random.default_rng(seed + 1), count, 4)
    numpy_sets, kernel_sets = NumpySets(dim, cap), KernelSets(kprada, dim, cap)
    assert _feed_sets(kernel_sets, points, labels, cuts, repeat) == _feed_sets(
        numpy_sets, points, labels, cuts, repeat
    )
    assert _groups(kernel_sets, classes) == _groups(numpy_sets, classes)


def _plain(points: np.ndarray, labels: np.ndarray, cap: int, repeat: float) -> tuple[
    list[float], dict[int, tuple[int, float]]
]:  # fmt: skip
    """PRADA's rules read query by query in plain Python floats, each distance summed feature
    by feature from the first."""
    members: dict[int, list[list[float]]] = {}
    stats: dict[int, list[float]] = {}
    out = []
    for row, label in zip(points.astype(np.float64).tolist(), labels.tolist(), strict=True):
        mine = members.setdefault(label, [])
        threshold, n, total, squares = stats.setdefault(label, [0.0, 0.0, 0.0, 0.0])
        best = math.inf
        for member in mine:
            square = 0.0
            for a, b in zip(row, member, strict=True):
                square += (a - b) * (a - b)
            best = min(best, square)
        d = math.sqrt(best)
        out.append(d)
        if d != math.inf:
            if d <= repeat or d <= threshold:
                continue
            n, total, squares = n + 1.0, total + d, squares + d * d
            mean = total / n
            threshold = max(threshold, mean - math.sqrt(max(0.0, squares / n - mean * mean)))
            stats[label] = [threshold, n, total, squares]
        if len(mine) < cap:
            mine.append(row)
    return out, {c: (len(m), stats[c][0]) for c, m in members.items()}


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 120), st.integers(1, 12), st.integers(1, 4), st.sampled_from([2, 512]),
       st.integers(0, 2**32 - 1))  # fmt: skip
def test_kernel_follows_the_rules_query_by_query(
    count: int, dim: int, classes: int, cap: int, seed: int
) -> None:
    points, labels = _stream(seed, count, dim, classes, 1.0, False)
    sets = KernelSets(kprada, dim, cap)
    got = sets.add(points, labels, 1e-3).tolist()
    want, groups = _plain(points, labels, cap, 1e-3)
    assert got == want  # exact: the same sums in the same order
    assert {c: (sets.group(c)[0], sets.group(c)[1]) for c in groups} == groups


State = tuple[bytes, list[float | None], list[tuple[object, ...]]]


def _client(points: np.ndarray, labels: np.ndarray, cuts: list[int], kernel: bool,
            maxlen: int = 200) -> State:  # fmt: skip
    """A client's PRADA fed as _detectors feeds it: pieces end at every 64th query, a batch
    that ends inside a segment leaves its distances waiting; W at each segment's end."""
    prada = Prada(points.shape[1], maxlen, cap=64, kernel=kernel)
    ws: list[float | None] = []
    start = 0
    with threadpool_limits(1, "blas"):
        for stop in cuts:
            k = stop - start
            seen = start + np.arange(1, k + 1)
            stops = (np.flatnonzero(seen % _SEGMENT == 0) + 1).tolist()
            if not stops or stops[-1] != k:
                stops.append(k)
            open_end = stop % _SEGMENT != 0
            for piece in prada.add_pieces(points[start:stop], labels[start:stop], stops, 1e-3,
                                          open_end):  # fmt: skip
                if (start + piece) % _SEGMENT == 0 and prada.due(30, 10):
                    ws.append(prada.w())
            start = stop
    groups = [tuple(s) for s in prada._stats.values()]
    return prada.distances.values().tobytes(), ws, groups


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_long_streams_give_the_same_state_however_cut_and_either_way(seed: int) -> None:
    rng = np.random.default_rng(seed)
    count, dim = 1500, 9
    points, labels = _stream(seed, count, dim, 5, 1.0, False)
    plans = [[count], _cuts(rng, count, 30), [*range(13, count, 13), count]]
    seen = [_client(points, labels, cuts, kernel) for cuts in plans for kernel in (True, False)]
    assert len(seen[0][1]) > 10  # W was tested many times
    assert all(state == seen[0] for state in seen[1:])


@settings(max_examples=80, deadline=None)
@given(st.integers(3, 5000), st.sampled_from(["normal", "gamma", "ties", "equal", "huge"]),
       st.integers(0, 2**32 - 1))  # fmt: skip
def test_kernel_w_is_numpys_w(n: int, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = {
        "normal": lambda: rng.normal(size=n),
        "gamma": lambda: rng.gamma(0.5, size=n),
        "ties": lambda: rng.integers(0, 4, size=n).astype(np.float64),
        "equal": lambda: np.full(n, 2.5),
        "huge": lambda: rng.normal(size=n) * 1e15 + 1e16,
    }[kind]()
    w = shapiro_w(values, kernel=True)
    assert w is not None
    assert np.float64(w).tobytes() == np.float64(shapiro_w(values, kernel=False)).tobytes()


@pytest.mark.parametrize(("classes", "dim"), [(3, 6), (10, 64), (300, 4)])
def test_calibration_gives_the_same_delta_either_way(classes: int, dim: int) -> None:
    rng = np.random.default_rng(classes)
    points = rng.normal(size=(900, dim)).astype(np.float32)
    points[::17] = points[5]  # repeated queries
    labels = rng.integers(0, classes, size=900)

    class Profile:
        prada_delta, prada_margin, prada_min, prada_every = 1.0, 0.0, 40, 10  # delta = lowest W

    with threadpool_limits(1, "blas"):
        got = [calibrate_prada(points, labels, Profile(), 200, 1e-3, runs=12, kernel=kernel)
               for kernel in (True, False)]  # fmt: skip
    assert got[0] == got[1]
    assert 0.0 < got[0] < 1.0  # the lowest W the virtual clients reached
