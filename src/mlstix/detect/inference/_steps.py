"""Repeated steps: the signature of synthetic extraction queries made by ``x +/- lambda *
sign(gradient)`` (Jacobian-based augmentation, Papernot et al., AsiaCCS 2017; PRADA's
random-sign T-RND; iterated signed steps).

A *step* is a query's absolute difference, per feature, to its nearest earlier query. A step
*repeats* one of the client's ``_LOOKBACK`` earlier steps when the two agree within 5 % on at
least 80 % of the features where both moved (at least a quarter of the features), their
lengths are within 20 % of each other, and they do not join the same two queries (a natural
query sent again is no repeat). Synthetic augmentation moves every query by the same
``lambda`` per feature, only the signs differ; natural neighbours differ by amounts that do
not repeat.

The exact test is elementwise over pairs of steps. Pairs that cannot pass it are skipped
first, with one matrix product per 64 steps (a bound on the cosines of the log-steps, see
``_OMEGA``) and a comparison of the lengths (with a little slack: the exact test decides).
A client's earlier steps keep what the bound needs of them, so each step's cosines, sines and
length are computed once.

The compiled kernel (``_kernel.steps``, used where it is built, see :mod:`._accel`) runs the
exact test on every pair in the band instead, one by one with early exits (the common movers
counted from bit masks, and each pair given up once the agreements it needs can no longer
come); it needs no bound, because the bound only skips pairs the exact test rejects. Both give
the same verdicts (tests compare them). Each step's length is the root of the float32 sum of
its squares taken in order, and each query's fingerprint the float64 sum of ``x_j * probe_j``
in order, the same in both paths (``einsum`` and BLAS add in orders C cannot follow).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._accel import load

__all__ = ["LOOKBACK", "StepMemory", "fingerprints", "lengths", "probe", "repeated_steps"]

Matrix = npt.NDArray[np.float32]

_AGREE = 0.05  # two steps agree on a feature within this share of the larger
_QUORUM = 0.8  # ... on at least this share of the features where both moved
_LENGTHS = 0.2  # the two steps' lengths within this share of the longer
LOOKBACK = 64  # a step is compared with this many earlier steps of the client
# Agreeing features have log-steps within c = -log(0.95) of each other, so
# cos(w * (log a - log b)) >= cos(x) for w = x / c (any x up to pi); any other feature is >= -1.
# A pair agreeing on a share q >= 0.8 of its M common movers therefore has
# sum(cos) >= M * (0.8 * (1 + cos x) - 1). Natural steps differ at random, and their cosines
# sum to much less. With x = 0.25 the benchmark's traffic leaves 3,800 pairs for the exact test
# on 37,500 digits queries where x = 0.5 left 68,000 (breast cancer: 1,400 where 2,300): at the
# lower frequency the cosine does not come round again at the ratios natural steps take (a
# step twice another in a feature scores cos(3.3) = -0.99 there, not cos(6.6) = 0.94).
_ANGLE = 0.25
_OMEGA = _ANGLE / (-math.log(1.0 - _AGREE) + 1e-3)
_BOUND = _QUORUM * (1.0 + math.cos(_ANGLE)) - 1.0


@lru_cache(maxsize=512)
def _band(before: int, count: int) -> npt.NDArray[np.bool_]:
    """Which pool rows query r (row ``before + r`` of a pool) meets: the ``LOOKBACK`` before
    it."""
    gap = (before + np.arange(count))[:, None] - np.arange(before + count)[None, :]
    band: npt.NDArray[np.bool_] = (gap > 0) & (gap <= LOOKBACK)
    return band


def _waves(steps: Matrix) -> tuple[Matrix, Matrix]:
    """Per step, ``[cos, sin, 1]`` of ``_OMEGA * log(step)`` on the features it moved (zero
    elsewhere), and the same with ``-_BOUND'`` in place of the 1: the product of a query's
    first with a pool step's second is ``sum(cos) - _BOUND' * common movers``."""
    moved = (steps > 1e-6).astype(np.float32)
    angle = np.log(np.maximum(steps, np.float32(1e-6))) * np.float32(_OMEGA)
    query = np.concatenate([np.cos(angle) * moved, np.sin(angle) * moved, moved], axis=1)
    other = query.copy()
    other[:, 2 * steps.shape[1] :] *= np.float32(-(_BOUND - 1e-3))
    return query, other


@lru_cache(maxsize=8)
def probe(dim: int) -> npt.NDArray[np.float64]:
    """A fixed random projection: a number per query (its fingerprint) that equal queries
    share."""
    out: npt.NDArray[np.float64] = np.random.default_rng(0xF1).normal(size=dim)
    out.setflags(write=False)
    return out


def fingerprints(queries: Matrix, direction: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each query's fingerprint: the float64 sum of ``x_j * direction_j`` taken in order (as
    the kernel takes it)."""
    if not queries.shape[1]:
        return np.zeros(len(queries))
    out: npt.NDArray[np.float64] = np.cumsum(queries.astype(np.float64) * direction, axis=1)[:, -1]
    return out


def lengths(steps: Matrix) -> Matrix:
    """Each step's length: the float32 square root of the float32 sum of its squares taken in
    order (as the kernel takes it)."""
    if not steps.shape[1]:
        return np.zeros(len(steps), dtype=np.float32)
    out: Matrix = np.sqrt(np.cumsum(steps * steps, axis=1, dtype=np.float32)[:, -1])
    return out


class StepMemory:
    """A client's last ``LOOKBACK`` steps (the finite ones), with the fingerprints of the two
    queries each joins, their lengths and (NumPy path) what the bound needs of them."""

    __slots__ = ("_kernel", "_probe", "ends", "lengths", "other", "query", "steps", "usable")

    def __init__(self, dim: int, kernel: bool = True) -> None:
        self._kernel = load("_kernel") if kernel else None
        self._probe = probe(dim)
        self.steps: Matrix = np.empty((0, dim), dtype=np.float32)
        self.ends = np.empty((0, 2), dtype=np.float64)
        self.query: Matrix = np.empty((0, 3 * dim), dtype=np.float32)
        self.other: Matrix = np.empty((0, 3 * dim), dtype=np.float32)
        self.usable = np.empty(0, dtype=np.bool_)
        self.lengths: Matrix = np.empty(0, dtype=np.float32)

    def judge(self, steps: Matrix, ends: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Which rows of ``steps`` (NaN rows: a query with no earlier one) repeat one of the
        ``LOOKBACK`` finite steps before them (remembered, then this batch's own); the finite
        ones are remembered. A memory is judged by this or by :meth:`judge_queries`, whose
        fingerprints are not ``ends`` given here."""
        out = np.zeros(len(steps), dtype=np.bool_)
        ok: npt.NDArray[np.bool_] = np.asarray(np.isfinite(steps).all(axis=1))
        mine = steps[ok] if not ok.all() else steps
        if not len(mine):
            return out
        minimum = max(3, steps.shape[1] // 4)
        first = len(self.steps)
        pool = np.concatenate([self.steps, mine])
        pool_ends = np.concatenate([self.ends, ends[ok]])
        pool_lengths = np.concatenate([self.lengths, lengths(mine)])
        kernel = self._kernel
        if kernel is not None:
            hit = np.zeros(len(mine), dtype=np.bool_)
            kernel.steps(pool, pool_ends, pool_lengths, first, minimum, LOOKBACK, hit)
            out[np.flatnonzero(ok)] = hit
        else:
            self._judge(pool, pool_ends, pool_lengths, first, minimum, ok, out)
        self.steps = pool[-LOOKBACK:]
        self.ends = pool_ends[-LOOKBACK:]
        self.lengths = pool_lengths[-LOOKBACK:]
        return out

    def judge_queries(
        self, queries: Matrix, start: int, index: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        """:meth:`judge` on the steps of queries ``start:`` of ``queries`` to their nearest
        earlier query (``index``, -1 where none; see :mod:`._nearest`): each step the float32
        ``|x - nearest|``, its ends the two queries' fingerprints. The kernel computes them
        itself, in one call; the NumPy path computes the same values."""
        kernel = self._kernel
        if kernel is None:
            marks = fingerprints(queries, self._probe)
            with np.errstate(invalid="ignore", over="ignore"):
                moves = np.abs(queries[start:] - queries[index])
            moves[index < 0] = np.nan
            return self.judge(moves, np.stack([marks[start:], marks[index]], axis=1))
        dim = queries.shape[1]
        hit = np.zeros(len(queries) - start, dtype=np.bool_)
        steps = np.empty((LOOKBACK, dim), dtype=np.float32)
        ends = np.empty((LOOKBACK, 2), dtype=np.float64)
        sizes = np.empty(LOOKBACK, dtype=np.float32)
        kept = kernel.steps_from(queries, start, index, self._probe, self.steps, self.ends,
                                 self.lengths, max(3, dim // 4), LOOKBACK, hit, steps, ends,
                                 sizes)  # fmt: skip
        self.steps, self.ends, self.lengths = steps[:kept], ends[:kept], sizes[:kept]
        return hit

    def _judge(self, pool: Matrix, pool_ends: npt.NDArray[np.float64], pool_lengths: Matrix,
               first: int, minimum: int, ok: npt.NDArray[np.bool_],
               out: npt.NDArray[np.bool_]) -> None:  # fmt: skip
        """The NumPy path: the bound skips the pairs that cannot pass, the exact test decides."""
        mine = pool[first:]
        query, other = _waves(mine)
        # a step that moved fewer features than a match needs (a repeated query moved none)
        # matches nothing
        usable = np.count_nonzero(mine > 1e-6, axis=1) >= minimum
        pool_query = np.concatenate([self.query, query])
        pool_other = np.concatenate([self.other, other])
        pool_usable = np.concatenate([self.usable, usable])
        found_rows: list[npt.NDArray[np.intp]] = []
        found_cols: list[npt.NDArray[np.intp]] = []
        for start in range(0, len(mine), LOOKBACK):
            low = max(0, first + start - LOOKBACK)
            high = first + min(start + LOOKBACK, len(mine))
            before = first + start - low
            # the bound: pairs whose cosine sum shows they cannot agree on 80 % are skipped
            bound = pool_query[low + before : high] @ pool_other[low:high].T
            candidate = (bound >= -0.01) & _band(before, high - low - before)
            candidate &= pool_usable[low + before : high, None] & pool_usable[None, low:high]
            rows, cols = np.nonzero(candidate)
            found_rows.append(rows + (low + before))
            found_cols.append(cols + low)
        rows = np.concatenate(found_rows)
        if rows.size:
            cols = np.concatenate(found_cols)
            hit = _repeats(pool, pool_ends, pool_lengths, rows, cols, minimum)
            out[np.flatnonzero(ok)] = hit[first:]
        self.query = pool_query[-LOOKBACK:]
        self.other = pool_other[-LOOKBACK:]
        self.usable = pool_usable[-LOOKBACK:]


def _repeats(
    pool: Matrix,
    ends: npt.NDArray[np.float64],
    lengths: Matrix,
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
    minimum: int,
) -> npt.NDArray[np.bool_]:
    """The exact test on the candidate pairs (step ``rows``, earlier step ``cols``): which
    pool rows repeat an earlier one."""
    hit = np.zeros(len(pool), dtype=np.bool_)
    a, b = pool[rows], pool[cols]
    mine, other = lengths[rows], lengths[cols]
    keep = np.abs(mine - other) <= _LENGTHS * np.maximum(mine, other)
    mine_ends, other_ends = ends[rows], ends[cols]
    keep &= (mine_ends[:, 0] != other_ends[:, 0]) & (mine_ends[:, 0] != other_ends[:, 1])
    keep &= (mine_ends[:, 1] != other_ends[:, 0]) & (mine_ends[:, 1] != other_ends[:, 1])
    rows, a, b = rows[keep], a[keep], b[keep]
    # features pinned at a bound (a pixel already 0) cannot move: compare where both moved
    both = (a > 1e-6) & (b > 1e-6)
    same = np.abs(a - b) <= _AGREE * np.maximum(a, b)
    movers = both.sum(axis=1)
    match = ((same & both).sum(axis=1) >= _QUORUM * movers) & (movers >= minimum)
    hit[rows[match]] = True
    return hit


def repeated_steps(
    steps: Matrix,
    ends: npt.NDArray[np.float64],
    templates: Matrix,
    template_ends: npt.NDArray[np.float64],
    kernel: bool = True,
) -> npt.NDArray[np.bool_]:
    """Which rows of ``steps`` repeat one of the ``LOOKBACK`` finite steps before them:
    ``templates`` (earlier finite steps, oldest first), then this batch's own; by the
    compiled kernel where there is one and ``kernel`` is true, else with NumPy."""
    memory = StepMemory(steps.shape[1], kernel)
    memory.judge(templates, template_ends)
    return memory.judge(steps, ends)
