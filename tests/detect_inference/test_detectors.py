"""The detectors' shortcuts against the plain definitions they stand for: the repeated-step
bound never drops a pair the exact test accepts, a client's verdicts do not depend on how its
queries are cut into batches, and PRADA's calibration on one distance matrix equals feeding
:class:`Prada` the same virtual clients."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from mlstix.detect.inference._baseline import Baseline
from mlstix.detect.inference._detectors import PROFILES, ClientState, Where
from mlstix.detect.inference._prada import Prada, _VirtualClient
from mlstix.detect.inference._steps import LOOKBACK, repeated_steps


def _exact_repeats(steps: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The rule of ``repeated_steps`` written out pair by pair, with no bound."""
    finite = [i for i in range(len(steps)) if np.isfinite(steps[i]).all()]
    out = np.zeros(len(steps), dtype=bool)
    minimum = max(3, steps.shape[1] // 4)
    for rank, i in enumerate(finite):
        for j in finite[max(0, rank - LOOKBACK) : rank]:
            a, b = steps[i], steps[j]
            la, lb = float(np.sqrt(a @ a)), float(np.sqrt(b @ b))
            if abs(la - lb) > 0.2 * max(la, lb) or set(ends[i]) & set(ends[j]):
                continue
            both = (a > 1e-6) & (b > 1e-6)
            same = np.abs(a - b) <= 0.05 * np.maximum(a, b)
            movers = int(both.sum())
            if movers >= minimum and (same & both).sum() >= 0.8 * movers:
                out[i] = True
                break
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_step_bound_drops_no_pair_the_exact_test_accepts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dim = 24
    natural = np.abs(rng.normal(size=(150, dim))).astype(np.float32)
    lam = rng.uniform(0.1, 2.0, size=dim).astype(np.float32)
    synthetic = np.tile(lam, (150, 1))
    synthetic[rng.random((150, dim)) < 0.15] = 0.0  # clipped features did not move
    synthetic *= rng.uniform(0.97, 1.03, size=(150, dim)).astype(np.float32)  # rounding
    wild = synthetic.copy()
    wild[:, :4] = rng.uniform(0, 5, size=(150, 4))  # up to a fifth of the features disagree
    steps = np.concatenate([natural, synthetic, wild])[rng.permutation(450)]
    steps[rng.random(450) < 0.03] = np.nan  # queries without an earlier one
    ends = rng.normal(size=(450, 2))
    with threadpool_limits(1, "blas"):
        fast = repeated_steps(steps, ends, steps[:0], ends[:0])
    assert fast.tolist() == _exact_repeats(steps, ends).tolist()
    assert 50 < fast.sum() < 400


def _baseline(dim: int) -> Baseline:
    zeros = np.zeros(dim, dtype=np.float32)
    ref = np.random.default_rng(0).normal(size=(64, dim)).astype(np.float32)
    return Baseline(zeros, zeros + 1, ref, np.arange(64), 1.0, 4.0, 0.9, zeros + 1)


def test_a_clients_verdicts_do_not_depend_on_its_batches() -> None:
    rng = np.random.default_rng(4)
    dim, count = 10, 700
    queries = rng.normal(size=(count, dim)).astype(np.float32)
    origin = rng.normal(size=dim)
    queries[300:420] = origin + rng.normal(size=(120, dim)) * 0.02  # a probing run
    signs = np.sign(rng.normal(size=(200, dim))) * 0.3
    queries[500:] = queries[450] + np.cumsum(signs, axis=0)  # a chain of signed steps
    labels = rng.integers(0, 3, count)
    off = rng.random(count) < 0.1
    where = Where(["log"], np.zeros(count, np.int64), np.arange(1, count + 1),
                  1e9 + np.arange(count, dtype=np.float64))  # fmt: skip
    baseline = _baseline(dim)
    verdicts = []
    for cuts in ([count], [1, 63, 64, 129, 700], [50] * 14, [255, 256, 189]):
        state = ClientState(dim, 200, PROFILES["balanced"])
        start = 0
        with threadpool_limits(1, "blas"):
            for size in cuts:
                rows = np.arange(start, min(start + size, count))
                state.update(queries[rows], labels[rows], off[rows], where.take(rows), baseline)
                start += size
        detections = {k: (d.query, d.line, d.statistic) for k, d in state.detections.items()}
        verdicts.append((detections, state.queries, state.near_duplicates, state.sign_steps,
                         state.off_manifold, state.last_w))  # fmt: skip
    assert all(v == verdicts[0] for v in verdicts[1:])
    assert {"probing", "steps"} <= set(verdicts[0][0])


def test_prada_calibration_on_one_matrix_equals_feeding_prada() -> None:
    rng = np.random.default_rng(5)
    points = rng.normal(size=(260, 6)).astype(np.float32)
    points[::20] = points[3]  # repeated queries
    labels = rng.integers(0, 4, 260)
    prada = Prada(6, 300)
    lowest = 1.0
    with threadpool_limits(1, "blas"):
        for start in range(0, 260, 10):
            prada.add_batch(points[start : start + 10], labels[start : start + 10], 1e-3)
            if prada.due(30, 1):
                w = prada.w()
                lowest = min(lowest, 1.0 if w is None else w)
        rows = points.astype(np.float64)
        client = _VirtualClient(rows, np.einsum("ij,ij->i", rows, rows), labels, 300)
        assert client.lowest_w(10, 30, 1e-3) == pytest.approx(lowest, abs=1e-12)
