"""Each query's nearest earlier query among exactly the ``window`` before it, found cheaply and
measured exactly.

*Exactly* means: by the float64 sum of squared differences taken feature by feature in order
(the earliest on a tie); a query with a NaN or an infinity (a value too large for float32
after scaling) has no nearest and is nobody's, so one hostile query cannot blind the search
for the others. The compiled kernel (``_kernel.c``, used when it is built, see
:mod:`._accel`) and the NumPy search here give the same queries and the same distances, bit
for bit; tests compare them.

The NumPy search ranks the candidates in float32 with one matrix product per 64 queries (the
query's own ``window`` earlier queries and no others are eligible); every candidate whose
float32 score is within a proven error bound of the best one is then measured exactly, and
the nearest of those wins. So a repeated query is at distance 0, and two near-duplicates
that float32 cannot tell apart are told apart in float64.

The bound: with ``u`` the unit roundoff, a dot product of ``d`` terms computed in any order
is off by at most ``d u |x| |c| / (1 - d u)`` (Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., §3.1), and the score ``|c|^2 - 2 x.c`` adds two roundings of at most
``u (|x| + |c|)^2`` each; every candidate within twice that of the lowest score is measured
(with a further factor of two to spare).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._accel import load

__all__ = ["nearest_in_window", "nearest_index"]

Matrix = npt.NDArray[np.float32]
_SUB = 64  # queries ranked per product: each meets its window and the sub-block before it
_WIDE = 1e15  # values above this are ranked in float64 (float32 products would overflow)


@lru_cache(maxsize=256)
def _mask(offset: int, count: int, window: int) -> Matrix:
    """0 where query row j may use candidate column r, +inf elsewhere: the candidates are
    the pool rows from ``offset`` before the first query up to the one before the last; a
    query may use the ``window`` rows before it."""
    gap = (offset + np.arange(count))[:, None] - np.arange(offset + count - 1)[None, :]
    mask: Matrix = np.where((gap > 0) & (gap <= window), 0.0, np.inf).astype(np.float32)
    mask.setflags(write=False)
    return mask


def nearest_in_window(
    history: Matrix, batch: Matrix, window: int
) -> tuple[npt.NDArray[np.float64], Matrix]:
    """For each row of ``batch``: the distance (float64) to the nearest of the ``window``
    queries before it (the last rows of ``history``, then the rows before it in ``batch``),
    and that query (NaN, at distance inf, where there is none). A query with a NaN or an
    infinity has none and is nobody's nearest. The compiled kernel finds the same queries
    and distances, bit for bit (``_kernel.c``; tests compare the two)."""
    pool, index, nearest = nearest_index(history, batch, window)
    previous = pool[index]
    previous[index < 0] = np.nan
    return nearest, previous


def nearest_index(
    history: Matrix, batch: Matrix, window: int
) -> tuple[Matrix, npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """As :func:`nearest_in_window`: the pool (``history`` then ``batch``), each batch row's
    nearest as a row of the pool (-1 where none), and the distance to it."""
    h, k = len(history), len(batch)
    if history.shape[1:] != batch.shape[1:] or batch.ndim != 2:
        raise ValueError("history and batch must be matrices with the same columns")
    pool = np.concatenate([history, batch]) if h else batch
    pool = np.ascontiguousarray(pool, dtype=np.float32)
    kernel = load("_kernel")
    if kernel is not None:
        index = np.empty(k, dtype=np.int64)
        nearest = np.empty(k, dtype=np.float64)
        kernel.nearest(pool, h, int(window), index, nearest)
    else:
        index = _search(pool, h, window).astype(np.int64)
        nearest = _measure(pool, h, index)
    return pool, index, nearest


def _exact(a: Matrix, b: Matrix) -> npt.NDArray[np.float64]:
    """Row by row, the float64 sum of squared differences taken feature by feature in order
    (``cumsum`` adds in order; the kernel adds in the same order, so the sums agree bit for
    bit)."""
    diff = a.astype(np.float64) - b
    if not diff.shape[1]:
        return np.zeros(len(diff))
    square: npt.NDArray[np.float64] = np.cumsum(diff * diff, axis=1)[:, -1]
    return square


def _measure(pool: Matrix, h: int, index: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The distances from the rows ``h:`` of ``pool`` to their nearest (inf where none)."""
    with np.errstate(invalid="ignore", over="ignore"):  # rows with no nearest: set below
        nearest = np.sqrt(_exact(pool[h:], pool[index]))
    nearest[index < 0] = np.inf
    return nearest


def _search(pool: Matrix, h: int, window: int) -> npt.NDArray[np.intp]:
    """The NumPy search: the row of ``pool`` nearest to each row from ``h`` on, -1 where none."""
    k = len(pool) - h
    finite: npt.NDArray[np.bool_] = np.asarray(np.isfinite(pool).all(axis=1))
    clean = bool(finite.all())
    if not clean:  # such rows neither ask nor are offered (their scores are set to inf)
        pool = np.where(finite[:, None], pool, np.float32(0.0))
    # values whose squares might pass float32's range are ranked in float64
    wide = not float(np.abs(pool).max(initial=0.0)) < _WIDE
    work = pool.astype(np.float64) if wide else pool
    unit = 2.0**-53 if wide else 2.0**-24
    slack = 8.0 * (pool.shape[1] + 4) * unit
    # centred on the batch's first query (near-duplicates then have small norms and a tight
    # bound), and augmented so that one product gives |c|^2 - 2 x.c: [x, 1] . [-2 c, |c|^2]
    centred = work - work[h] if k else work
    centred_norms = np.einsum("ij,ij->i", centred, centred)
    asked = np.concatenate([centred, np.ones((len(pool), 1), centred.dtype)], axis=1)
    offered = np.concatenate([-2.0 * centred, centred_norms[:, None]], axis=1)
    roots = np.sqrt(centred_norms)
    index = np.full(k, -1, dtype=np.intp)
    for start in range(0, k, _SUB):
        first = h + start
        count = min(_SUB, k - start)
        low = max(0, first - window)
        high = first + count - 1
        if high <= low:
            continue  # the client's very first query: nothing before it
        # rows: the queries; columns: their candidates
        score = asked[first : first + count] @ offered[low:high].T
        score += _mask(first - low, count, window)
        if not clean:
            score[:, ~finite[low:high]] = np.inf
            score[~finite[first : first + count]] = np.inf
        queries = np.arange(count)
        top = score.argmin(axis=1)
        best = score[queries, top]
        found = np.isfinite(best)
        index[start : start + count] = np.where(found, low + top, -1)
        # the lowest score wins outright unless another is within the bound of it
        score[queries, top] = np.inf
        reach = float(roots[low:high].max()) + roots[first : first + count]
        limit = best + slack * reach * reach
        close = found & (score.min(axis=1) <= limit)
        if close.any():
            score[queries, top] = best
            near = np.flatnonzero(close)
            asks, rows = np.nonzero(score[near] <= limit[near, None])
            square = _exact(pool[first + near[asks]], pool[low + rows])
            order = np.lexsort((rows, square, asks))  # nearest, then earliest, per query
            ranked = asks[order]
            won = order[np.concatenate([[True], ranked[1:] != ranked[:-1]])]
            index[start + near[asks[won]]] = low + rows[won]
    return index
