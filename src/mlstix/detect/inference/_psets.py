"""PRADA's growing sets, one client's: a set of queries per predicted class (a *slot*, numbered
by :class:`._prada.Prada`), each with its threshold statistics.

:meth:`Sets.add` takes a batch of queries in order. A query's distance to its set is its
smallest exact float64 distance to a member: the square root of the squared differences summed
feature by feature from the first (``np.cumsum``'s order, which the compiled kernel
``_kprada.c`` follows, so both give the same bits; a repeated query is at 0). Then PRADA's rule:
a NaN distance is skipped; a finite one at or below ``repeat`` (a repeated query) or the set's
threshold is not kept; a finite one above it is accepted, and the threshold rises to
``mean - std`` of the accepted distances (never falls); the set's first query and every
accepted one join the set while it holds fewer than ``cap`` queries.

Two implementations: :class:`KernelSets` calls the compiled kernel (each query visits its set's
members in C, leaving a member as soon as its partial sum passes the nearest so far);
:class:`NumpySets`, the reference and the fallback, takes a class's queries of a batch
together. Their distances to the set as it stood are ranked with one matrix product,
``|x|^2 + |m|^2 - 2 x.m``, and every member within a proven error bound of the best is measured
exactly; only the queries farther than the class's threshold (which only rises, while a
distance only falls) are visited one by one, and when one joins, the later queries' distances
to it are taken the same way (ranked, then exact where they could lower the distance). An empty
set takes its class's first 16 queries as a run: the first joins whatever comes, so each later
query's exact distance to it bounds what the others must beat.

The bound: a dot product of ``d`` terms in any order (BLAS, fused or not) is off by at most
``d u |x| |m| / (1 - d u)`` (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
§3.1), the norms by ``d u |x|^2``, the two additions by a rounding each, and the exact sum
itself by ``d u |x - m|^2``: all within ``(2d + 3) u (|x| + |m|)^2``; we take ``8 (d + 4) u``
times that, with ``|m|`` the largest member norm (one bound per query).
Rows with a NaN or infinite value skip the ranking and are measured against every member.
"""

from __future__ import annotations

import importlib
import math
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._accel import load

if TYPE_CHECKING:
    from mlstix.detect.inference import _kprada

__all__ = [
    "GroupState",
    "KernelSets",
    "NumpySets",
    "Sets",
    "exact_sq",
    "kernel_module",
    "make_sets",
]

Matrix = npt.NDArray[np.float32]
Floats = npt.NDArray[np.float64]
# members, threshold, accepted distances, their sum, their sum of squares, the members (float64)
GroupState = tuple[int, float, float, float, float, Floats]

_UNIT = 2.0**-53
_PAIRS = 1 << 20  # squared differences held at once when measuring exactly
_RUN = 16  # the first run of a class with an empty set, or where a value is not finite


class Sets(Protocol):
    def add(self, rows: Matrix, slots: npt.NDArray[np.int64], repeat: float) -> Floats:
        """Each row's distance to its slot's set as it stood when the row came (inf while the
        set was empty); the rows join or not, in order."""
        ...

    def group(self, slot: int) -> GroupState: ...


def exact_sq(a: Floats, ai: npt.NDArray[np.intp], b: Floats, bi: npt.NDArray[np.intp]) -> Floats:
    """The squared distance between rows ``a[ai[p]]`` and ``b[bi[p]]`` for each pair ``p``,
    summed feature by feature from the first (the kernel's order and rounding). Callers with
    values that are not finite silence NumPy's warnings (inf - inf is NaN, as in the kernel)."""
    step = max(1, _PAIRS // a.shape[1])
    if len(ai) <= step:  # the common case: a few pairs
        diff = a[ai] - b[bi]
        diff *= diff
        sums: Floats = diff.cumsum(axis=1)[:, -1]
        return sums
    out = np.empty(len(ai), dtype=np.float64)
    for start in range(0, len(ai), step):
        diff = a[ai[start : start + step]] - b[bi[start : start + step]]
        diff *= diff
        out[start : start + len(diff)] = diff.cumsum(axis=1)[:, -1]
    return out


def _ranked(
    asked: Floats, asked_norms: Floats, members: Floats, member_norms: Floats
) -> tuple[Floats, Floats]:
    """The ranking scores ``|x|^2 + |m|^2 - 2 x.m`` (asked x members) and, per asked row, a
    bound on their errors (with the largest member norm)."""
    score = asked @ members.T
    score *= -2.0
    score += member_norms
    score += asked_norms[:, None]
    reach = np.sqrt(asked_norms) + math.sqrt(float(member_norms.max()))
    bound: Floats = (8.0 * (asked.shape[1] + 4) * _UNIT) * (reach * reach)
    return score, bound


def _finite(array: Floats) -> bool:
    return bool(np.isfinite(array).all())


def nearest_sq(rows: Floats, norms: Floats, members: Floats, member_norms: Floats,
               finite: bool) -> Floats:  # fmt: skip
    """Each row's exact squared distance to the nearest member (inf when there are none, NaN
    when a distance is NaN); ``finite``: no NaN or infinite value in ``rows`` or ``members``."""
    k, n = len(rows), len(members)
    if n == 0:
        return np.full(k, np.inf)
    if not finite:
        asks, those = np.divmod(np.arange(k * n), n)
        with np.errstate(invalid="ignore", over="ignore"):
            every: Floats = exact_sq(rows, asks, members, those).reshape(k, n).min(axis=1)
        return every
    score, bound = _ranked(rows, norms, members, member_norms)
    # the nearest is at most the lowest score plus the bound; a member is measured unless its
    # score less the bound is above that
    reach = score.min(axis=1) + 2.0 * bound
    asks, those = np.nonzero(score <= reach[:, None])  # grouped by row, every row at least once
    exact = exact_sq(rows, asks, members, those)
    if len(asks) == k:  # one candidate each
        return exact
    starts = np.flatnonzero(np.concatenate([[True], asks[1:] != asks[:-1]]))
    out: Floats = np.minimum.reduceat(exact, starts)
    return out


class _Group:
    """One slot's set: its members (float64) and their squared norms, and its statistics."""

    __slots__ = ("accepted", "count", "finite", "norms", "points", "squares", "sum", "threshold")

    def __init__(self, dim: int) -> None:
        self.points = np.empty((16, dim), dtype=np.float64)
        self.norms = np.empty(16, dtype=np.float64)
        self.count = 0
        self.finite = True  # no member has a NaN or infinite value
        self.threshold = self.accepted = self.sum = self.squares = 0.0

    def append(self, rows: Floats, norms: Floats, finite: bool) -> None:
        self.finite = self.finite and (finite or _finite(rows))
        end = self.count + len(rows)
        if end > len(self.points):
            size = max(end, 2 * len(self.points))
            self.points = np.resize(self.points, (size, self.points.shape[1]))
            self.norms = np.resize(self.norms, size)
        self.points[self.count : end] = rows
        self.norms[self.count : end] = norms
        self.count = end

    def accept(self, d: float) -> None:
        self.accepted += 1.0
        self.sum += d
        self.squares += d * d
        mean = self.sum / self.accepted
        std = math.sqrt(max(0.0, self.squares / self.accepted - mean * mean))
        self.threshold = max(self.threshold, mean - std)


class NumpySets:
    """The reference: a class's queries of a batch taken together (see the module docstring)."""

    def __init__(self, dim: int, cap: int) -> None:
        self.dim = dim
        self.cap = cap
        self._groups: dict[int, _Group] = {}

    def group(self, slot: int) -> GroupState:
        g = self._groups.get(slot)
        if g is None:
            return 0, 0.0, 0.0, 0.0, 0.0, np.empty((0, self.dim))
        return g.count, g.threshold, g.accepted, g.sum, g.squares, g.points[: g.count].copy()

    def add(self, rows: Matrix, slots: npt.NDArray[np.int64], repeat: float) -> Floats:
        k = len(rows)
        best = np.empty(k, dtype=np.float64)
        if k == 0:
            return best
        wide = rows.astype(np.float64)
        norms = np.einsum("ij,ij->i", wide, wide)
        finite = _finite(norms)  # inf or NaN there: a NaN or infinite value in the row
        by_slot = np.argsort(slots, kind="stable")
        grouped = slots[by_slot]
        edges = (np.flatnonzero(grouped[1:] != grouped[:-1]) + 1).tolist()
        for low, high in zip([0, *edges], [*edges, k], strict=True):
            g = self._groups.setdefault(int(grouped[low]), _Group(self.dim))
            # a class's rows in runs: each row measured against the set as it stood before its
            # run, then against the rows before it in the run that joined; where a value is
            # not finite every pair of a run is measured, so those runs are short
            start = low
            while start < high:
                ranked = finite and g.finite
                whole = ranked and g.count > 0  # an empty set ranks a short run first
                members = by_slot[start : high if whole else min(start + _RUN, high)]
                start += len(members)
                pre = nearest_sq(wide[members], norms[members], g.points[: g.count],
                                 g.norms[: g.count], finite and g.finite)  # fmt: skip
                mine = np.sqrt(pre)
                joined = self._visit(g, mine, pre, wide[members], norms[members], repeat, ranked)
                best[members] = mine
                if joined.size:
                    g.append(wide[members[joined]], norms[members[joined]], finite)
        return best

    def _visit(self, g: _Group, mine: Floats, pre: Floats, rows: Floats, norms: Floats,
               repeat: float, ranked: bool) -> npt.NDArray[np.intp]:  # fmt: skip
        """One class's rows of a batch, in order, against its set ``g`` (``pre``: their exact
        squared distances to it, ``mine`` their square roots): updates ``g``'s statistics and
        ``mine`` as rows join; returns the rows that join (the caller appends them to ``g``)."""
        open_rows = np.flatnonzero(mine > g.threshold)
        if not open_rows.size:
            return open_rows
        first = int(open_rows[0])
        ranked = ranked and self.cap > g.count  # (with no room, nothing joins: never read)
        within = self._within(open_rows, first, pre, rows, norms, ranked)
        joined: list[int] = []
        room = self.cap - g.count
        m = len(mine)
        for step, t in enumerate(open_rows.tolist()):
            d = float(mine[t])
            if d != d:
                continue  # NaN: neither kept nor joined
            if d != math.inf:
                if d <= repeat or d <= g.threshold:
                    continue  # a repeat adds nothing; d at or below the threshold is not kept
                g.accept(d)
            if len(joined) >= room:
                continue
            joined.append(t)
            if t + 1 < m:
                np.minimum(mine[t + 1 :], within[step, t + 1 - first :], out=mine[t + 1 :])
        return np.array(joined, dtype=np.intp)

    @staticmethod
    def _within(open_rows: npt.NDArray[np.intp], first: int, pre: Floats, rows: Floats,
                norms: Floats, ranked: bool) -> Floats:  # fmt: skip
        """Distances from each open row to the rows from ``first`` on, exact where one could
        lower a later row's distance. With ``ranked`` (every value finite, room in the set) the
        others are inf: a pair whose ranking score less its bound is above the later row's
        exact squared distance to the set (``pre``, which its distance never exceeds) cannot;
        for an empty set, above its distance to the run's first row (which joins whatever
        comes). Pairs not later than the open row are not read."""
        later = np.arange(first, len(pre))
        if ranked:
            within = np.full((len(open_rows), len(later)), np.inf)
            score, bound = _ranked(rows[open_rows], norms[open_rows], rows[first:], norms[first:])
            need = later[None, :] > open_rows[:, None]
            reach = pre[first:]
            if math.isinf(pre[first]):  # an empty set
                diff = rows[first + 1 :] - rows[first]
                diff *= diff
                head = diff.cumsum(axis=1)[:, -1]  # exact_sq's sums (a square has no sign)
                within[0, 1:] = np.sqrt(head)
                need[0] = False
                reach = np.concatenate([[np.inf], head])
            need &= score <= reach[None, :] + bound[:, None]
            asks, those = np.nonzero(need)
            if asks.size:
                within[asks, those] = np.sqrt(exact_sq(rows, open_rows[asks], rows, later[those]))
            return within
        # NaN or infinite values (no ranking): every pair, feature-major so that each step of
        # the sum is one pass over all pairs
        columns = rows.T
        out = np.empty((len(open_rows), len(later)), dtype=np.float64)
        step = max(1, _PAIRS // (rows.shape[1] * len(later)))
        with np.errstate(invalid="ignore", over="ignore"):
            for start in range(0, len(open_rows), step):
                part = open_rows[start : start + step]
                diff = columns[:, part, None] - columns[:, None, later]
                np.multiply(diff, diff, out=diff)
                out[start : start + len(part)] = np.sqrt(np.cumsum(diff, axis=0)[-1])
        return out


class KernelSets:
    """The compiled kernel (``_kprada.Sets``)."""

    def __init__(self, module: ModuleType, dim: int, cap: int) -> None:
        self._sets: _kprada.Sets = module.Sets(dim, cap)
        self.dim = dim

    def add(self, rows: Matrix, slots: npt.NDArray[np.int64], repeat: float) -> Floats:
        # what the kernel takes: C-contiguous float32 (kept: widening is exact) or float64
        kind = np.float32 if rows.dtype == np.float32 else np.float64
        rows = np.ascontiguousarray(rows, dtype=kind)
        best = np.empty(len(rows), dtype=np.float64)
        self._sets.add(rows, np.ascontiguousarray(slots, dtype=np.int64), float(repeat), best)
        return best

    def group(self, slot: int) -> GroupState:
        count, threshold, accepted, total, squares, points = self._sets.group(slot)
        members = np.frombuffer(points, dtype=np.float64).reshape(count, self.dim).copy()
        return count, threshold, accepted, total, squares, members


def kernel_module(kernel: bool | None = None) -> ModuleType | None:
    """The compiled module: None with ``kernel`` False; with None, as ``_accel`` decides (None
    where it is missing or turned off); with True, imported whatever the environment says
    (ImportError where it is missing)."""
    if kernel is None:
        return load("_kprada")
    if kernel:
        return importlib.import_module("mlstix.detect.inference._kprada")
    return None


def make_sets(dim: int, cap: int, kernel: bool | None = None) -> Sets:
    """A client's growing sets: the kernel's or NumPy's (see :func:`kernel_module`)."""
    module = kernel_module(kernel)
    return NumpySets(dim, cap) if module is None else KernelSets(module, dim, cap)
