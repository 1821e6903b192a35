"""The Shapiro–Wilk W statistic, computed with Royston's approximation of its coefficients.

Royston, P. (1992) "Approximating the Shapiro-Wilk W-test for non-normality", Statistics and
Computing 2, 117-119, and the algorithm AS R94 (Applied Statistics 44, 1995). The coefficients
``a`` come from the expected normal order statistics ``m_i = Phi^-1((i - 3/8) / (n + 1/4))``
with polynomial corrections in ``1/sqrt(n)`` for the two most extreme ones; then

    W = (sum_i a_i x_(i))^2 / sum_i (x_i - mean)^2.

Every sum is taken from the first term on (the order the compiled kernel ``_kprada`` sums in,
so both give the same bits).

Why our own: PRADA tests a client's distance set every few queries, and importing
``scipy.stats`` costs about a second of start-up on every run for one statistic. A test
compares this W with ``scipy.stats.shapiro`` on the same samples.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._psets import kernel_module

__all__ = ["FENCE", "coefficients", "fenced", "prada_w", "shapiro_w"]

FENCE = 3.0  # interquartile ranges above the upper quartile where PRADA clamps its distances
RARE = 25  # of the values past the fence, the largest n // RARE (at least 2) are clamped

_C1 = (0.0, 0.221157, -0.147981, -2.071190, 4.434685, -2.706056)
_C2 = (0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633)


def _poly(coefficients: tuple[float, ...], x: float) -> float:
    out = 0.0
    for c in reversed(coefficients):
        out = out * x + c
    return out


@lru_cache(maxsize=512)  # PRADA tests samples of up to 4 x --window distances
def _coefficients(n: int) -> npt.NDArray[np.float64]:
    """The n coefficients, antisymmetric (negative for the lower half), summing squares to 1."""
    half = n // 2
    if n == 3:
        upper = np.array([math.sqrt(0.5)])
    else:
        inv = NormalDist().inv_cdf
        m = np.array([inv((i - 0.375) / (n + 0.25)) for i in range(1, half + 1)])  # lower half
        summ2 = 2.0 * float(np.sum(m * m))  # the upper half mirrors the lower
        ssumm2 = math.sqrt(summ2)
        rsn = 1.0 / math.sqrt(n)
        a1 = _poly(_C1, rsn) - m[0] / ssumm2
        if n > 5:
            a2 = -m[1] / ssumm2 + _poly(_C2, rsn)
            fac = math.sqrt((summ2 - 2 * m[0] ** 2 - 2 * m[1] ** 2) / (1 - 2 * a1**2 - 2 * a2**2))
            upper = np.concatenate([[a1, a2], -m[2:] / fac])
        else:
            fac = math.sqrt((summ2 - 2 * m[0] ** 2) / (1 - 2 * a1**2))
            upper = np.concatenate([[a1], -m[1:] / fac])
    full = np.zeros(n)
    full[:half] = -upper
    full[n - half :] = upper[::-1]
    full.setflags(write=False)  # shared through the cache
    return full


def coefficients(n: int) -> npt.NDArray[np.float64]:
    """Royston's coefficients for a sorted sample of ``n`` (3 to 5,000), read-only."""
    return _coefficients(n)


def shapiro_w(values: npt.ArrayLike, kernel: bool | None = None) -> float | None:
    """W of ``values`` (3 to 5,000 of them); ``None`` for fewer than 3 or more than 5,000.
    A sample whose values are all equal has W = 0 here (it is as far from normal as can be).
    Every sum runs from the first term on (``np.cumsum``'s order), which the compiled kernel
    follows too: both give the same bits (``kernel`` as in :func:`._psets.kernel_module`)."""
    data = np.asarray(values, dtype=np.float64).ravel()
    n = data.size
    if n < 3 or n > 5000:
        return None
    data = np.sort(data)
    module = kernel_module(kernel)
    if module is not None and not np.isnan(data[-1]):  # NaN sorts last
        return float(module.shapiro_w(data, _coefficients(n)))
    deviation = data - np.cumsum(data)[-1] / n
    ssq = float(np.cumsum(deviation * deviation)[-1])
    top = max(1.0, abs(float(data[0])), abs(float(data[-1])))
    if ssq <= 1e-24 * (top * top):
        return 0.0
    dot = float(np.cumsum(_coefficients(n) * data)[-1])
    return min(dot * dot / ssq, 1.0)


def fenced(data: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Sorted ``data`` (ascending, no NaN, at least 3) with its few largest values pulled in:
    the values past Tukey's far-out fence ``q3 + FENCE * (q3 - q1)``, at most
    ``k = max(2, n // RARE)`` of them (the largest), take the fence, or the largest value left
    as it is when that lies past the fence too (more than ``k`` values past it: then this is
    winsorizing the top ``k``). The quartiles are order statistics, ``data[(n - 1) // 4]`` and
    ``data[n - 1 - (n - 1) // 4]``, no interpolation, as the kernel ``_kprada`` takes them.
    Only the few most extreme values move: when natural distances lie past the fence of a mass
    of tiny synthetic ones, the rest of them stay. Still sorted."""
    n = data.size
    low, high = float(data[(n - 1) // 4]), float(data[n - 1 - (n - 1) // 4])
    fence = high + FENCE * (high - low)
    past = n - int(np.searchsorted(data, fence, side="right"))
    clamp = min(past, max(2, n // RARE))
    if clamp == 0:
        return data
    out = data.copy()
    out[n - clamp :] = max(fence, float(data[n - clamp - 1]))
    return out


def prada_w(values: npt.ArrayLike, kernel: bool | None = None) -> float | None:
    """PRADA's W: :func:`shapiro_w` of the distances with their few most extreme values
    pulled in to the far-out fence (:func:`fenced`). A natural input the baseline never saw
    (a pixel that was 0 or 1 in every warm-up query and is 8 in this one) lies far from
    everything, and one such distance among a hundred sends W from 0.95 to 0.25: the test
    would flag honest clients for their rarest query. The clamp keeps a few such values from
    deciding the test; the shape PRADA looks for (a mass of small distances from synthetic
    steps beside natural ones) is kept. ``None`` as :func:`shapiro_w`."""
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size < 3 or data.size > 5000:
        return None
    data = np.sort(data)
    if np.isnan(data[-1]):
        return shapiro_w(data, kernel)
    return shapiro_w(fenced(data), kernel)
