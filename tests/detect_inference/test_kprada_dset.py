"""PRADA's distance set in the compiled kernel (``_kprada.DSet``) against PRADA's rules for D
read in plain Python: each piece's finite distances above ``repeat`` taken class by class
(stably, after the waiting piece's), waiting while the piece is open, the last ``maxlen`` kept;
PRADA's W of the sorted values (the far-out tail pulled in) bit for bit NumPy's; and wrong
arguments refused with nothing half done."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlstix.detect.inference._stats import coefficients, prada_w

kprada = pytest.importorskip(
    "mlstix.detect.inference._kprada", reason="the C kernel is not built (no compiler?)"
)


class _Plain:
    """D as _prada.py's NumPy path and PRADA's rules say, one value at a time."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self.held: list[float] = []
        self.waiting: list[tuple[int, float]] = []

    def take(self, values: list[float], classes: list[int], repeat: float, open_: bool) -> int:
        fresh = [(c, v) for c, v in zip(classes, values, strict=True)
                 if v != math.inf and v > repeat]  # fmt: skip
        merged = sorted(self.waiting + fresh, key=lambda pair: pair[0])  # stable: waiting first
        self.waiting = []
        if open_:
            self.waiting = merged
            return 0
        self.held = (self.held + [v for _, v in merged])[-self.maxlen :]
        return len(merged)


_VALUES = st.one_of(
    st.floats(0.0, 10.0),
    st.sampled_from([0.0, 1e-3, 0.5, 1.0, 1.0, 2.0, math.inf, math.nan, 1e300, 5e-324]),
)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 40),
    st.lists(
        st.tuples(
            st.lists(st.tuples(_VALUES, st.sampled_from([-2, 0, 1, 2, 7, 2**40])), max_size=70),
            st.booleans(),
        ),
        max_size=25,
    ),
)
def test_the_kernels_d_follows_the_rules(maxlen: int, pieces: list[Any]) -> None:
    plain, dset = _Plain(maxlen), kprada.DSet(maxlen)
    for piece, open_ in pieces:
        values = np.array([v for v, _ in piece], dtype=np.float64)
        classes = np.array([c for _, c in piece], dtype=np.int64)
        joined = dset.take(values, classes, 1e-3, open_)
        assert joined == plain.take(values.tolist(), classes.tolist(), 1e-3, open_)
        held = np.frombuffer(dset.values(), dtype=np.float64)
        assert held.tolist() == plain.held
        assert len(dset) == len(plain.held)
        if len(held) >= 3:
            w = dset.w(coefficients(len(held)))
            with np.errstate(over="ignore", invalid="ignore"):  # 1e300 squared
                want = prada_w(held, kernel=False)  # NumPy's sort, fence and sums
            assert np.float64(w).tobytes() == np.float64(want).tobytes()


def test_a_long_stream_keeps_the_sorted_set_of_its_last_values() -> None:
    rng = np.random.default_rng(5)
    dset, held = kprada.DSet(800), []
    for _ in range(300):
        values = np.round(rng.gamma(2.0, size=int(rng.integers(0, 70))), 2)  # many ties
        classes = rng.integers(0, 10, size=len(values))
        dset.take(values, classes, 1e-3, False)
        order = np.argsort(classes, kind="stable")
        held = (held + values[order][values[order] > 1e-3].tolist())[-800:]
        n = len(held)
        w = dset.w(coefficients(n))
        assert np.float64(w).tobytes() == np.float64(prada_w(held, kernel=False)).tobytes()
    assert np.frombuffer(dset.values(), dtype=np.float64).tolist() == held


V = np.array([1.0, 2.0, 3.0])
C = np.array([0, 1, 0], dtype=np.int64)


@pytest.mark.parametrize(
    ("values", "classes", "message"),
    [
        (V.astype(np.float32), C, "values"),
        (V.reshape(3, 1), C, "values"),
        (V, C.astype(np.int32), "classes"),
        (V, C[:2], "classes"),
        (np.ones(6)[::2], C, "C-contiguous"),
        ("abc", C, "values"),
    ],
)
def test_wrong_arguments_are_refused(values: Any, classes: Any, message: str) -> None:
    dset = kprada.DSet(4)
    dset.take(V, C, 0.0, True)  # a waiting piece
    with pytest.raises(ValueError, match=message):
        dset.take(values, classes, 0.0, False)
    assert dset.take(np.empty(0), np.empty(0, np.int64), 0.0, False) == 3  # it still waited
    assert np.frombuffer(dset.values()).tolist() == [1.0, 3.0, 2.0]


def test_w_refuses_what_it_cannot_judge() -> None:
    dset = kprada.DSet(10)
    dset.take(V[:2], C[:2], 0.0, False)
    with pytest.raises(ValueError, match="at least 3"):
        dset.w(coefficients(3))  # two values held
    dset.take(V, C, 0.0, False)
    for wrong in (coefficients(4), coefficients(5).astype(np.float32), "abc"):
        with pytest.raises(ValueError):
            dset.w(wrong)
    assert 0.0 <= dset.w(coefficients(5)) <= 1.0


@pytest.mark.parametrize("maxlen", [0, -1, 2**25])
def test_impossible_sizes_are_refused(maxlen: int) -> None:
    with pytest.raises(ValueError, match="maxlen"):
        kprada.DSet(maxlen)


def test_an_uninitialised_object_is_refused() -> None:
    dset = kprada.DSet.__new__(kprada.DSet)
    with pytest.raises(ValueError, match="not initialised"):
        dset.take(V, C, 0.0, False)
    assert len(dset) == 0
    assert dset.values() == b""
