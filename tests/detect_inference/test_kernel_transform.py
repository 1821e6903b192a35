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
