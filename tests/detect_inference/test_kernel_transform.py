"""The baseline's transform of float32 queries (computed straight into its output) gives the
bits of the plain chunked formula ``((x - center) / scale).astype(float32)``, values at float32's
limits included, without a warning reaching the user."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mlstix.detect.inference._baseline import Baseline

_F32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
_SCALE = st.floats(width=32, min_value=2.0**-126, max_value=2.0**127)  # as _spread makes it: > 0


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 40).flatmap(lambda d: st.tuples(
    hnp.arrays(np.float32, st.tuples(st.integers(0, 30), st.just(d)), elements=_F32),
    hnp.arrays(np.float32, d, elements=st.floats(width=32, allow_nan=False)),
    hnp.arrays(np.float32, d, elements=_SCALE),
)))  # fmt: skip
def test_transform_is_the_plain_formula(arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    vectors, center, scale = arrays
    baseline = Baseline(center, scale, vectors[:0], np.zeros(0, np.int64), 1.0, 1.0, 0.9, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing reaches the user
        got = baseline.transform(vectors)
    with np.errstate(all="ignore"):
        want = ((vectors - center) / scale).astype(np.float32)
    assert got.dtype == np.float32
    assert got.tobytes() == want.tobytes()
    wide = baseline.transform(vectors.astype(np.float64))  # the general path, unchanged
    with np.errstate(all="ignore"):
        assert (
            wide.tobytes()
            == ((vectors.astype(np.float64) - center) / scale).astype(np.float32).tobytes()
        )


def _plain_off_manifold(b: Baseline, scaled: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """The off-manifold test as defined: every reference query of another owner farther than
    the fence, by the float64 sum of squared differences taken in order (the whole int64
    owner mask, no codes)."""
    diff = scaled.astype(np.float64)[:, None, :] - b.reference.astype(np.float64)[None, :, :]
    square = np.cumsum(diff * diff, axis=2)[:, :, -1]
    other = owners[:, None] != b.reference_owners[None, :]
    out: np.ndarray = ~(other & ~(square > b.ood_radius**2)).any(axis=1)
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 300),  # rows
    st.integers(1, 20),  # reference queries
    st.sampled_from([[-2], [0], [0, 1, 2], [5, 9, 2**40], list(range(20))]),  # their owners
    st.lists(st.integers(-1, 12), min_size=1, max_size=5),  # the rows' owners, cycled
    st.integers(0, 2**32 - 1),
)
def test_off_manifold_is_the_plain_masked_minimum(
    rows: int, refs: int, ref_owner_pool: list[int], row_owner_pool: list[int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    dim = 4
    reference = rng.normal(size=(refs, dim)).astype(np.float32)
    ref_owners = np.resize(np.array(ref_owner_pool, dtype=np.int64), refs)
    scaled = rng.normal(size=(rows, dim)).astype(np.float32) * 1.5
    scaled[::7] = reference[0]  # some on a reference query
    owners = np.resize(np.array(row_owner_pool, dtype=np.int64), rows)
    zeros = np.zeros(dim, dtype=np.float32)
    b = Baseline(zeros, zeros + 1, reference, ref_owners, 1.0, 1.2, 0.9, zeros + 1)
    got = b.off_manifold(scaled, owners)
    assert got.tolist() == _plain_off_manifold(b, scaled, owners).tolist()
