"""The compiled repeated-steps kernel (``_kernel.steps``) against its NumPy twin (the cosine
bound, then the exact test) and against the rule written out pair by pair: the same verdicts
on random steps with synthetic repeats, features that did not move, steps at the 5 % and 20 %
limits, shared queries, NaN rows and huge values, however the steps are cut into batches;
and wrong arguments refused with ValueError, never a crash."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from mlstix.detect.inference._steps import LOOKBACK, StepMemory

kernel = pytest.importorskip(
    "mlstix.detect.inference._kernel", reason="the C kernel is not built (no compiler?)"
)

_SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]  # the fixture is a mode


pytestmark = pytest.mark.usefixtures("simd_variant")  # every test runs each SIMD variant


def _repeats(steps: Any, lengths: Any, ends: Any, i: int, j: int, minimum: int) -> bool:
    """The exact rule for one pair: step ``i`` repeats step ``j`` (lengths within 20 %, not
    joining the same queries, agreeing within 5 % on 80 % of at least ``minimum`` common
    movers)."""
    a, b, la, lb = steps[i], steps[j], lengths[i], lengths[j]
    if not np.abs(la - lb) <= np.float32(0.2) * max(la, lb):
        return False
    if set(ends[i].tolist()) & set(ends[j].tolist()):
        return False
    both = (a > np.float32(1e-6)) & (b > np.float32(1e-6))
    same = np.abs(a - b) <= np.float32(0.05) * np.maximum(a, b)
    movers = int(both.sum())
    return movers >= minimum and int((same & both).sum()) >= 0.8 * movers


def _pairwise(steps: np.ndarray, ends: np.ndarray) -> list[bool]:
    """The rule pair by pair, in float32 as NumPy computes it, with no bound or early exit."""
    finite = [i for i in range(len(steps)) if np.isfinite(steps[i]).all()]
    out = [False] * len(steps)
    minimum = max(3, steps.shape[1] // 4)
    length = np.sqrt(np.einsum("ij,ij->i", steps, steps))
    for rank, i in enumerate(finite):
        for j in finite[max(0, rank - LOOKBACK) : rank]:
            if _repeats(steps, length, ends, i, j, minimum):
                out[i] = True
                break
    return out


@st.composite
def streams(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int]]:
    dim = draw(st.integers(1, 200))
    count = draw(st.integers(0, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = np.float32(10.0 ** draw(st.sampled_from([-3, 0, 2, 16, 30])))
    steps = (np.abs(rng.normal(size=(count, dim))) * scale).astype(np.float32)
    lam = (rng.uniform(0.1, 2.0, size=dim) * scale).astype(np.float32)
    synthetic = rng.random(count) < draw(st.floats(0.0, 0.8))
    jitter = rng.uniform(0.94, 1.06, size=(int(synthetic.sum()), dim)).astype(np.float32)
    steps[synthetic] = lam * jitter  # around the 5 % limit
    if draw(st.booleans()):  # exactly at the limits: b = a * 0.95 and lengths * 0.8
        for row in rng.choice(count, size=min(count, 6), replace=False):
            factor = np.float32(rng.choice([0.95, 0.8, 1.2, 1.05]))
            steps[row] = steps[row - 1] * factor if row else steps[row]
    steps[rng.random((count, dim)) < draw(st.floats(0.0, 0.6))] = 0.0  # pinned features
    if draw(st.booleans()):
        steps[rng.random(count) < 0.05] = np.nan  # queries without an earlier one
    if draw(st.booleans()) and count:
        steps[int(rng.integers(count)), int(rng.integers(dim))] = np.float32(3e38)
    ends = rng.normal(size=(count, 2))
    if draw(st.booleans()) and count:  # steps sharing a query (a query sent again)
        ends[rng.random(count) < 0.3, int(rng.integers(2))] = ends[0, 0]
    cuts = sorted(draw(st.lists(st.integers(0, count), max_size=4)))
    return steps, ends, cuts


def _judge(steps: np.ndarray, ends: np.ndarray, cuts: list[int], use: bool) -> list[bool]:
    memory = StepMemory(steps.shape[1], kernel=use)
    out: list[bool] = []
    with threadpool_limits(1, "blas"), np.errstate(all="ignore"):
        for low, high in zip([0, *cuts], [*cuts, len(steps)], strict=True):
            out.extend(memory.judge(steps[low:high], ends[low:high]).tolist())
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=_SLOW)
@given(streams())
def test_kernel_and_numpy_give_the_same_verdicts(
    case: tuple[np.ndarray, np.ndarray, list[int]],
) -> None:
    steps, ends, cuts = case
    assert _judge(steps, ends, cuts, True) == _judge(steps, ends, [], False)


@settings(max_examples=30, deadline=None, suppress_health_check=_SLOW)
@given(streams())
def test_kernel_follows_the_rule_pair_by_pair(
    case: tuple[np.ndarray, np.ndarray, list[int]],
) -> None:
    steps, ends, cuts = case
    steps, ends = steps[:120], ends[:120]
    cuts = [c for c in cuts if c <= 120]
    with np.errstate(all="ignore"):
        assert _judge(steps, ends, cuts, True) == _pairwise(steps, ends)


def test_a_synthetic_stream_is_found_both_ways() -> None:
    rng = np.random.default_rng(5)
    dim = 64
    lam = np.float32(0.3)
    natural = np.abs(rng.normal(size=(200, dim))).astype(np.float32)
    signed = np.full((100, dim), lam, dtype=np.float32)
    signed[rng.random((100, dim)) < 0.2] = 0.0  # clipped at the bounds
    steps = np.concatenate([natural, signed])
    ends = rng.normal(size=(300, 2))
    kernel_says = _judge(steps, ends, [37, 250], True)
    assert kernel_says == _judge(steps, ends, [], False)
    assert sum(kernel_says[:200]) == 0 and sum(kernel_says[201:]) == 99


def _call(**change: object) -> None:
    args: dict[str, object] = {
        "pool": np.zeros((4, 3), np.float32),
        "ends": np.zeros((4, 2)),
        "lengths": np.zeros(4, np.float32),
        "first": 1,
        "minimum": 3,
        "lookback": 64,
        "out": np.zeros(3, np.bool_),
    }
    args.update(change)
    kernel.steps(*args.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pool": np.zeros((4, 3))}, "pool"),
        ({"pool": np.zeros((4, 6), np.float32)[:, ::2]}, "pool"),
        ({"ends": np.zeros((4, 3))}, "ends"),
        ({"ends": np.zeros((3, 2))}, "ends"),
        ({"ends": np.zeros(8)}, "ends"),
        ({"lengths": np.zeros(4)}, "lengths"),
        ({"lengths": np.zeros(5, np.float32)}, "lengths"),
        ({"out": np.zeros(3, np.uint8)}, "out"),
        ({"out": np.zeros(4, np.bool_)}, "first"),
        ({"first": 5}, "first"),
        ({"first": -1}, "first"),
        ({"lookback": -1}, "first"),
        ({"pool": "abc"}, "pool"),
    ],
)
def test_wrong_arguments_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _call(**change)


@st.composite
def clients(draw: st.DrawFn) -> tuple[np.ndarray, list[int], int]:
    """A client's queries (with synthetic signed steps, repeats, NaN and huge values), the
    batch cuts and the window."""
    dim = draw(st.integers(1, 80))
    count = draw(st.integers(1, 260))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    queries = rng.normal(size=(count, dim)).astype(np.float32)
    if draw(st.booleans()):  # x +/- lambda sign(g): Jacobian augmentation
        seeds = queries[: max(1, count // 10)]
        signs = rng.choice([-1.0, 0.0, 1.0], size=(count, dim)).astype(np.float32)
        queries = seeds[rng.integers(len(seeds), size=count)] + np.float32(0.1) * signs
    if draw(st.booleans()):
        queries[rng.random(count) < 0.2] = queries[0]  # repeats
    if draw(st.booleans()):
        queries[int(rng.integers(count)), int(rng.integers(dim))] = np.nan
    if draw(st.booleans()):
        queries[rng.random(count) < 0.1, int(rng.integers(dim))] = np.float32(3e38)
        queries[rng.random(count) < 0.1, int(rng.integers(dim))] = np.float32(-3e38)
    cuts = sorted(set(draw(st.lists(st.integers(1, count), max_size=4))))
    return queries, cuts, draw(st.integers(1, 300))


def _follow(queries: np.ndarray, cuts: list[int], window: int, use: bool) -> list[object]:
    """A client's steps judged batch by batch from its queries, as the detectors do: the
    verdicts, then the memory left."""
    from mlstix.detect.inference._nearest import nearest_index

    memory = StepMemory(queries.shape[1], kernel=use)
    history = queries[:0]
    verdicts: list[bool] = []
    with threadpool_limits(1, "blas"), np.errstate(all="ignore"):
        for low, high in zip([0, *cuts], [*cuts, len(queries)], strict=True):
            pool, index, _ = nearest_index(history, queries[low:high], window)
            verdicts.extend(memory.judge_queries(pool, len(history), index).tolist())
            history = pool[-window:]
    return [verdicts, memory.steps.tobytes(), memory.ends.tobytes(), memory.lengths.tobytes()]


@settings(max_examples=80, deadline=None, suppress_health_check=_SLOW)
@given(clients())
def test_steps_from_queries_match_the_numpy_path(case: tuple[np.ndarray, list[int], int]) -> None:
    queries, cuts, window = case
    assert _follow(queries, cuts, window, True) == _follow(queries, [], window, False)


def _call_from(**change: object) -> None:
    dim = 3
    args: dict[str, object] = {
        "queries": np.zeros((4, dim), np.float32),
        "start": 1,
        "index": np.array([0, 1, -1], np.int64),
        "probe": np.ones(dim),
        "steps": np.zeros((0, dim), np.float32),
        "ends": np.zeros((0, 2)),
        "lengths": np.zeros(0, np.float32),
        "minimum": 3,
        "lookback": 4,
        "hit": np.zeros(3, np.bool_),
        "keep_steps": np.zeros((4, dim), np.float32),
        "keep_ends": np.zeros((4, 2)),
        "keep_lengths": np.zeros(4, np.float32),
    }
    args.update(change)
    kernel.steps_from(*args.values())


def test_steps_from_takes_good_arguments() -> None:
    _call_from()  # the baseline of the cases below is accepted


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"index": np.array([0, 2, -1], np.int64)}, "index"),  # not an earlier query
        ({"index": np.array([0, 1, -2], np.int64)}, "index"),
        ({"index": np.array([0, 1], np.int64)}, "start"),
        ({"start": 5}, "start"),
        ({"probe": np.ones(4)}, "probe"),
        ({"probe": np.ones(3, np.float32)}, "probe"),
        ({"steps": np.zeros((5, 3), np.float32)}, "lookback"),
        ({"steps": np.zeros((1, 3), np.float32)}, "lookback"),  # ends and lengths have none
        ({"keep_steps": np.zeros((3, 3), np.float32)}, "lookback"),
        ({"keep_ends": np.zeros((4, 2), np.float32)}, "keep_ends"),
        ({"lookback": 0}, "lookback"),
        ({"hit": np.zeros(3, np.int8)}, "hit"),
        ({"queries": np.zeros((4, 3))}, "queries"),
    ],
)
def test_steps_from_refuses_wrong_arguments(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _call_from(**change)


def _rule(pool: np.ndarray, ends: np.ndarray, lengths: np.ndarray, first: int, minimum: int,
          lookback: int) -> list[bool]:  # fmt: skip
    """``kernel.steps``' contract read pair by pair: each step from ``first`` against the
    ``lookback`` pool rows before it (any ``minimum``, any ``lookback``)."""
    out = []
    for i in range(first, len(pool)):
        found = False
        for j in range(max(0, i - lookback), i):
            if _repeats(pool, lengths, ends, i, j, minimum):
                found = True
                break
        out.append(found)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=_SLOW)
@given(streams(), st.integers(1, 90), st.integers(0, 6), st.integers(0, 40))
def test_any_lookback_and_minimum_follow_the_rule(
    case: tuple[np.ndarray, np.ndarray, list[int]], lookback: int, minimum: int, first: int
) -> None:
    """Windows shorter and longer than the kernel's blocks of candidates, windows reaching
    the pool's first row or not, and minimums down to 0 (a pair with no common mover then
    repeats)."""
    steps, ends, _ = case
    finite = np.isfinite(steps).all(axis=1)
    pool = np.ascontiguousarray(steps[finite][:150])
    ends = np.ascontiguousarray(ends[finite][:150])
    first = min(first, len(pool))
    with np.errstate(all="ignore"):
        lengths = np.sqrt(np.cumsum(pool * pool, axis=1, dtype=np.float32)[:, -1]) if pool.size \
            else np.zeros(len(pool), np.float32)  # fmt: skip
        out = np.zeros(len(pool) - first, np.bool_)
        kernel.steps(pool, ends, lengths, first, minimum, lookback, out)
        assert out.tolist() == _rule(pool, ends, lengths, first, minimum, lookback)
