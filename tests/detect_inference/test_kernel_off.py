"""The off-manifold test: the compiled kernel (``_kernel.off``), the NumPy path of
``Baseline.off_manifold`` and the rule read pair by pair (every reference query of another
owner farther than the fence, by the float64 sum of squared differences in order) give the
same verdicts, on points near, on and beyond the fence, exact repeats of reference queries,
NaN, infinities, 3e38, subnormals and owners overlapping or not; wrong arguments are refused
with ValueError."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlstix.detect.inference import _accel
from mlstix.detect.inference._baseline import Baseline

kernel = pytest.importorskip(
    "mlstix.detect.inference._kernel", reason="the C kernel is not built (no compiler?)"
)

pytestmark = pytest.mark.usefixtures("simd_variant")  # every test runs each SIMD variant

_SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]  # the fixture is a mode


def _rule(points: np.ndarray, owners: np.ndarray, reference: np.ndarray,
          ref_owners: np.ndarray, limit: float) -> list[bool]:  # fmt: skip
    """The rule read pair by pair, in plain Python floats (IEEE doubles)."""
    out = []
    for x, owner in zip(points.tolist(), owners.tolist(), strict=True):
        far = True
        for r, theirs in zip(reference.tolist(), ref_owners.tolist(), strict=True):
            if theirs == owner:
                continue
            square = 0.0
            for a, b in zip(x, r, strict=True):
                square += (a - b) * (a - b)
            if not square > limit:
                far = False
                break
        out.append(far)
    return out


def _baseline(reference: np.ndarray, ref_owners: np.ndarray, radius: float) -> Baseline:
    dim = reference.shape[1]
    ones = np.ones(dim, dtype=np.float32)
    return Baseline(ones * 0, ones, reference, ref_owners, 1.0, radius, 0.9, ones)


def _both(base: Baseline, points: np.ndarray, owners: np.ndarray,
          monkeypatch: pytest.MonkeyPatch) -> tuple[list[bool], list[bool]]:  # fmt: skip
    """The kernel's verdicts and the NumPy path's."""
    with_kernel = base.off_manifold(points, owners).tolist()
    with monkeypatch.context() as patch:
        patch.setitem(_accel._loaded, "_kernel", None)
        numpy = base.off_manifold(points, owners).tolist()
    return with_kernel, numpy


@st.composite
def cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    dim = draw(st.integers(1, 70))
    refs = draw(st.integers(0, 40))
    rows = draw(st.integers(0, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.sampled_from([-40, -20, -3, 0, 0, 0, 2, 15, 37]))
    reference = (rng.normal(size=(refs, dim)) * scale).astype(np.float32)
    points = (rng.normal(size=(rows, dim)) * scale).astype(np.float32)
    if refs and rows and draw(st.booleans()):  # exact repeats of reference queries
        pick = rng.random(rows) < 0.3
        points[pick] = reference[rng.integers(refs, size=int(pick.sum()))]
    for target in (points, reference):
        if target.size and draw(st.booleans()):  # hostile values
            hostile = np.array([np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-45], np.float32)
            spots = rng.random(target.shape) < 0.05
            target[spots] = rng.choice(hostile, size=int(spots.sum()))
    ref_owners = rng.integers(-2, 4, size=refs).astype(np.int64)
    owners = rng.integers(-1, 4, size=rows).astype(np.int64)
    if draw(st.booleans()):  # one owner for all: nothing to compare with
        ref_owners[:] = 3
    wide = points.astype(np.float64)
    if refs and rows and draw(st.booleans()):
        # the fence exactly at one pair's in-order sum: on the fence is within it
        square = 0.0
        for a, b in zip(wide[0].tolist(), reference[0].astype(np.float64).tolist(), strict=True):
            square += (a - b) * (a - b)
        radius = math.sqrt(square) if math.isfinite(square) else 1.0
        if radius * radius != square:  # the fence is compared as radius**2
            radius = 1.0
    else:
        radius = float(scale) * math.sqrt(dim) * draw(st.sampled_from([0.5, 1.0, 1.4, 2.0]))
    return points, owners, reference, ref_owners, radius


@settings(max_examples=150, deadline=None, suppress_health_check=_SLOW)
@given(case=cases())
def test_kernel_numpy_and_rule_agree(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    points, owners, reference, ref_owners, radius = case
    base = _baseline(reference, ref_owners, radius)
    with_kernel, numpy = _both(base, points, owners, monkeypatch)
    want = _rule(points, owners, reference, ref_owners, radius**2)
    assert with_kernel == want
    assert numpy == want


def test_near_the_fence_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    """Points one float32 step inside and outside the fence of a reference query, and a
    reference query of the point's own client within it (excluded)."""
    rng = np.random.default_rng(5)
    reference = rng.normal(size=(20, 64)).astype(np.float32)
    owners_ref = np.arange(20, dtype=np.int64)
    direction = rng.normal(size=64)
    direction /= np.linalg.norm(direction)
    outward = np.where(direction > 0, np.inf, -np.inf).astype(np.float32)
    points: list[np.ndarray] = []
    owners: list[int] = []
    for r in range(20):
        for step in (2.5, 3.0, 3.5):
            point = (reference[r] + step * direction).astype(np.float32)
            for _nudge in range(3):
                points.append(point.copy())
                owners.append(-1 if len(owners) % 2 else r)  # r: its own query is excluded
                point = np.nextafter(point, outward)  # one step farther out
    points_array = np.array(points, dtype=np.float32)
    owners_array = np.array(owners, dtype=np.int64)
    base = _baseline(reference, owners_ref, 3.0)
    with_kernel, numpy = _both(base, points_array, owners_array, monkeypatch)
    want = _rule(points_array, owners_array, reference, owners_ref, 9.0)
    assert with_kernel == want == numpy
    assert 0 < sum(want) < len(want)


def test_rows_past_chunks_and_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """More rows than a chunk and references not a multiple of the kernel's groups of 8."""
    from mlstix.detect.inference import _baseline as module

    monkeypatch.setattr(module, "_CHUNK", 97)
    rng = np.random.default_rng(9)
    reference = rng.normal(size=(259, 13)).astype(np.float32)
    ref_owners = rng.integers(0, 7, size=259).astype(np.int64)
    points = (rng.normal(size=(1000, 13)) * 1.3).astype(np.float32)
    owners = rng.integers(-1, 7, size=1000).astype(np.int64)
    base = _baseline(reference, ref_owners, 4.2)
    with_kernel, numpy = _both(base, points, owners, monkeypatch)
    want = _rule(points, owners, reference, ref_owners, 4.2**2)
    assert with_kernel == want == numpy
    assert 0 < sum(want) < len(want)


def _call(points: object, owners: object, reference: object, ref_owners: object,
          out: object) -> None:  # fmt: skip
    kernel.off(points, owners, reference, ref_owners, 1.0, out)


@pytest.mark.parametrize(
    "change",
    [
        {"points": np.zeros((4, 3), np.float64)},  # wrong type
        {"points": np.zeros(12, np.float32)},  # wrong dimensions
        {"points": np.zeros((4, 6), np.float32)[:, ::2]},  # not contiguous
        {"reference": np.zeros((5, 4), np.float32)},  # other columns
        {"owners": np.zeros(3, np.int64)},  # one short
        {"owners": np.zeros(4, np.int32)},  # wrong type
        {"ref_owners": np.zeros(4, np.int64)},  # one short
        {"out": np.zeros(4, np.bool_)[::-1]},  # not contiguous
        {"out": np.zeros(5, np.bool_)},  # one too many
        {"out": np.frombuffer(bytes(4), np.bool_)},  # read-only
        {"points": None},
    ],
)
def test_wrong_arguments_are_refused(change: dict[str, object]) -> None:
    args: dict[str, object] = {
        "points": np.zeros((4, 3), np.float32),
        "owners": np.zeros(4, np.int64),
        "reference": np.zeros((5, 3), np.float32),
        "ref_owners": np.zeros(5, np.int64),
        "out": np.zeros(4, np.bool_),
    }
    args.update(change)
    with pytest.raises(ValueError):
        _call(**args)
    kernel.off(np.zeros((0, 3), np.float32), np.zeros(0, np.int64), np.zeros((0, 3), np.float32),
               np.zeros(0, np.int64), 1.0, np.zeros(0, np.bool_))  # fmt: skip


def test_a_nan_fence_puts_every_point_with_a_reference_on_the_manifold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``S > NaN`` is false: no reference of another owner is beyond a NaN fence (a point with
    none, all of its own, stays off)."""
    rng = np.random.default_rng(2)
    reference = rng.normal(size=(20, 9)).astype(np.float32)
    ref_owners = np.zeros(20, dtype=np.int64)
    points = (rng.normal(size=(30, 9)) * 50).astype(np.float32)
    owners = np.array([0, 1, -1] * 10, dtype=np.int64)
    base = _baseline(reference, ref_owners, math.nan)
    with_kernel, numpy = _both(base, points, owners, monkeypatch)
    want = _rule(points, owners, reference, ref_owners, math.nan)
    assert with_kernel == want == numpy == [owner == 0 for owner in owners.tolist()]
