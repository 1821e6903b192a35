"""Medians, linear quantiles and sorted unique values, bit-identical to NumPy's.

Why our own: ``np.median``, ``np.quantile`` and ``np.unique`` import ``numpy.ma`` on their
first call (a NaN check on a masked result, a ``np.ma.is_masked`` test), which is about a
fifth of NumPy's start-up in a job that never sees a masked array. These take the same
``np.partition`` calls with the same ``kth`` lists and the same arithmetic as NumPy 2
(``_median``, ``_quantile`` with ``method="linear"`` and ``_lerp``), so every value, the sign
of a zero and a NaN in a column included, is NumPy's; a test compares them on random arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["median", "quantiles", "unique_ints"]


def _nan_last(part: npt.NDArray[Any], result: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """NumPy's NaN rule: a partitioned slice whose last value is NaN has a NaN result."""
    last = part[-1]
    nans = np.isnan(last)
    if nans.any():
        np.copyto(result, last, where=nans)
    return result


def median(values: npt.NDArray[Any], axis: int | None = None) -> npt.NDArray[Any]:
    """``np.median(values, axis)`` for a float array along ``axis`` 0 (2-D) or ``None``
    (1-D); returns an array (0-d for ``None``: take ``float()`` of it)."""
    if axis is None:
        values = values.ravel()
    size = values.shape[0]
    kth = [size // 2 - 1, size // 2] if size % 2 == 0 else [(size - 1) // 2]
    kth.append(-1)
    part = np.partition(values, kth, axis=0)
    index = size // 2
    middle = part[index : index + 1] if size % 2 == 1 else part[index - 1 : index + 1]
    result: npt.NDArray[Any] = np.asarray(np.mean(middle, axis=0))
    if size > 0:
        result = _nan_last(part, result)
    return result


def quantiles(values: npt.NDArray[Any], qs: Sequence[float]) -> npt.NDArray[Any]:
    """``np.quantile(values, qs, axis=0)`` (the default linear method) for a float array, with
    ``qs`` a list of floats in [0, 1]: one row (2-D input) or value (1-D) per ``q``."""
    count = values.shape[0]
    virtual = (count - 1) * np.asarray(qs, dtype=np.float64)
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= count - 1
    previous[above] = -1
    following[above] = -1
    below = virtual < 0
    previous[below] = 0
    following[below] = 0
    before = previous.astype(np.intp)
    after = following.astype(np.intp)
    kth = sorted({0, -1, *before.tolist(), *after.tolist()})
    part = np.partition(values, kth, axis=0)
    low, high = part[before], part[after]
    gamma = (virtual - before).reshape(virtual.shape + (1,) * (values.ndim - 1))
    diff = high - low
    result: npt.NDArray[Any] = np.add(low, diff * gamma)
    np.subtract(high, diff * (1 - gamma), out=result, where=gamma >= 0.5, casting="unsafe",
                dtype=result.dtype)  # fmt: skip
    return _nan_last(part, result)


def unique_ints(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``np.unique(values)`` for an integer array: its distinct values, sorted."""
    ordered = np.sort(values.ravel())
    if ordered.size == 0:
        return ordered
    keep = np.empty(ordered.size, dtype=np.bool_)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]
