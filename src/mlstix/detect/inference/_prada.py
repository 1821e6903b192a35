"""PRADA (Juuti, Szyller, Marchal, Asokan: "PRADA: Protecting against DNN Model Stealing
Attacks", EuroS&P 2019), one client at a time.

For each predicted class a *growing set* of the client's queries is kept. Each new query's
minimum distance ``d`` to its class's growing set joins the client's distance set ``D``; the
query joins the growing set when ``d`` exceeds the class threshold, which rises to
``mean - std`` of the growing set's own distances. Natural queries give a ``D`` close to a
normal distribution; synthetic extraction queries (Jacobian-based augmentation, perturbations
of seeds, line searches) do not. The Shapiro–Wilk statistic ``W`` of ``D`` below ``delta``
flags the client.

Queries arrive in small batches: the distances of a batch to the growing sets are one matrix
product, and only the order-dependent bookkeeping is a Python loop.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._order import unique_ints
from mlstix.detect.inference._stats import shapiro_w

__all__ = ["Prada", "calibrate_prada", "sq_dists"]

Matrix = npt.NDArray[np.float32]


class PradaProfile(Protocol):
    @property
    def prada_delta(self) -> float: ...
    @property
    def prada_margin(self) -> float: ...
    @property
    def prada_min(self) -> int: ...
    @property
    def prada_every(self) -> int: ...


def sq_dists(a: Matrix, b: Matrix) -> npt.NDArray[np.float64]:
    """Squared Euclidean distances between the rows of ``a`` and of ``b`` (``len(a) x len(b)``),
    in float64 so that a repeated query comes out at (nearly) zero."""
    a64 = a.astype(np.float64, copy=False)
    b64 = b.astype(np.float64, copy=False)
    aa = np.einsum("ij,ij->i", a64, a64)[:, None]
    bb = np.einsum("ij,ij->i", b64, b64)[None, :]
    out: npt.NDArray[np.float64] = aa + bb - 2.0 * (a64 @ b64.T)
    np.maximum(out, 0.0, out=out)
    return out


class Ring:
    """The last ``size`` values appended (PRADA's distance set ``D``), in a fixed array."""

    __slots__ = ("_count", "_data", "_next")

    def __init__(self, size: int) -> None:
        self._data = np.empty(size, dtype=np.float64)
        self._next = 0  # where the next value goes
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def extend(self, values: npt.NDArray[np.float64]) -> None:
        size = len(self._data)
        values = values[-size:]
        end = self._next + len(values)
        if end <= size:
            self._data[self._next : end] = values
        else:
            split = size - self._next
            self._data[self._next :] = values[:split]
            self._data[: end - size] = values[split:]
        self._next = end % size
        self._count = min(size, self._count + len(values))

    def values(self) -> npt.NDArray[np.float64]:
        """The values held, oldest first."""
        if self._count < len(self._data):
            return self._data[: self._count].copy()
        return np.concatenate([self._data[self._next :], self._data[: self._next]])


class _GrowingSet:
    """One class's growing set: its queries (float64) and their squared norms."""

    __slots__ = ("count", "norms", "points")

    def __init__(self, dim: int) -> None:
        self.points = np.empty((16, dim), dtype=np.float64)
        self.norms = np.empty(16, dtype=np.float64)
        self.count = 0

    def add(self, rows: npt.NDArray[np.float64], norms: npt.NDArray[np.float64]) -> None:
        end = self.count + len(rows)
        if end > len(self.points):
            size = max(end, 2 * len(self.points))
            self.points = np.resize(self.points, (size, self.points.shape[1]))
            self.norms = np.resize(self.norms, size)
        self.points[self.count : end] = rows
        self.norms[self.count : end] = norms
        self.count = end

    def nearest(
        self, rows: npt.NDArray[np.float64], norms: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Each row's distance to the nearest member (inf while the set is empty)."""
        n = self.count
        if not n:
            return np.full(len(rows), np.inf)
        square = norms[:, None] + self.norms[None, :n] - 2.0 * (rows @ self.points[:n].T)
        out: npt.NDArray[np.float64] = np.sqrt(np.maximum(square.min(axis=1), 0.0))
        return out


class Prada:
    """PRADA's state for one client: a growing set per predicted class (at most ``cap`` queries
    each, at most 256 classes; later ones share one set) and the distance set ``D`` (its most
    recent ``maxlen`` values)."""

    __slots__ = ("_classes", "_sets", "_stats", "_waiting", "cap", "dim", "distances",
                 "since_test")  # fmt: skip

    def __init__(self, dim: int, maxlen: int, cap: int = 512) -> None:
        self.dim = dim
        self.cap = cap
        self._sets: dict[int, _GrowingSet] = {}
        # per class: [members, threshold, accepted n, sum, sum of squares]
        self._stats: dict[int, list[float]] = {}
        self._classes: set[int] = set()
        self.distances = Ring(maxlen)
        self.since_test = 0
        # the classes and distances of a piece that the next batch completes
        self._waiting: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None = None

    def _class(self, label: int) -> int:
        if label in self._classes:
            return label
        if len(self._classes) >= 256:  # bounded: classes past 256 share one set
            label = -2
        self._classes.add(label)
        self._stats.setdefault(label, [0.0, 0.0, 0.0, 0.0, 0.0])
        return label

    def add_batch(self, batch: Matrix, labels: npt.NDArray[np.int64], repeat: float) -> None:
        """Add a batch of queries as one piece (see :meth:`add_pieces`)."""
        for _ in self.add_pieces(batch, labels, [len(batch)], repeat):
            pass

    def add_pieces(
        self,
        batch: Matrix,
        labels: npt.NDArray[np.int64],
        stops: list[int],
        repeat: float,
        open_end: bool = False,
    ) -> Iterator[int]:
        """Add a batch of queries cut into pieces (``batch[0:stops[0]]``, ...), yielding each
        stop once its piece's distances have joined ``D``. Each query's minimum distance to
        its class's growing set joins ``D`` (an exact repeat adds nothing); it joins the
        growing set when the distance passes the class's threshold, and later queries of its
        class then measure to it too. Within a piece, distances join ``D`` class by class (in
        the order of the labels), each class's in the batch's order. With ``open_end`` the
        last piece is the start of a piece the next batch completes: its distances wait and
        join ``D`` with the rest of it, in the same order as had the piece come whole (so
        ``D`` does not depend on where batches end).

        Classes are independent, so each is followed on its own: its queries' distances to the
        growing set as it stood before the batch are one product, and only the queries that
        may pass the threshold (those farther than it was at the start: the threshold only
        rises and a distance only falls) are visited one by one; each one that joins lowers
        the distances of the class's later queries with one more product."""
        k = len(batch)
        if k == 0:
            return
        rows = batch.astype(np.float64)
        norms = np.einsum("ij,ij->i", rows, rows)
        classes = self._classes_of(labels, stops)
        # each class on its own: positions grouped by class, in order within each
        by_class = np.argsort(classes, kind="stable")
        grouped = classes[by_class]
        edges = (np.flatnonzero(grouped[1:] != grouped[:-1]) + 1).tolist()
        best = np.empty(k)
        for low, high in zip([0, *edges], [*edges, k], strict=True):
            label = int(grouped[low])
            members = by_class[low:high]
            growing = self._sets.setdefault(label, _GrowingSet(self.dim))
            best[members] = growing.nearest(rows[members], norms[members])
            joined = self._class_rows(label, best, members, rows, norms, repeat)
            if joined.size:
                growing.add(rows[joined], norms[joined])
        # D takes each piece's distances class by class
        if len(stops) == 1:
            order = by_class
        else:
            pieces = np.searchsorted(np.array(stops), by_class, side="right")
            order = by_class[np.argsort(pieces, kind="stable")]
        values = best[order]
        counted = (values != np.inf) & (values > repeat)
        start = 0
        for stop in stops:  # the pieces' positions come in order: the first ``stop`` of D's
            keep = counted[start:stop]
            fresh, fresh_classes = values[start:stop][keep], classes[order[start:stop]][keep]
            if self._waiting is not None and start == 0:  # this piece continues the waiting one
                fresh_classes = np.concatenate([self._waiting[0], fresh_classes])
                ranked = np.argsort(fresh_classes, kind="stable")
                fresh_classes = fresh_classes[ranked]
                fresh = np.concatenate([self._waiting[1], fresh])[ranked]
                self._waiting = None
            if open_end and stop == stops[-1]:
                self._waiting = (fresh_classes, fresh)
            else:
                self.distances.extend(fresh)
                self.since_test += len(fresh)
            start = stop
            yield stop

    def _classes_of(self, labels: npt.NDArray[np.int64], stops: list[int]) -> npt.NDArray[np.int64]:
        """Each query's growing set: its label, or the set shared by classes past 256
        (classes are registered piece by piece, in the order of their labels)."""
        new = set(labels.tolist()) - self._classes
        if len(self._classes) + len(new) <= 256:  # nothing shares a set
            for label in sorted(new):
                self._class(label)
            return labels.astype(np.int64)
        classes = np.empty(len(labels), dtype=np.int64)
        start = 0
        for stop in stops:
            part = labels[start:stop]
            present = unique_ints(part)
            mapped = np.array([self._class(int(c)) for c in present.tolist()], dtype=np.int64)
            classes[start:stop] = mapped[np.searchsorted(present, part)]
            start = stop
        return classes

    def _class_rows(
        self,
        label: int,
        best: npt.NDArray[np.float64],
        members: npt.NDArray[np.intp],
        rows: npt.NDArray[np.float64],
        norms: npt.NDArray[np.float64],
        repeat: float,
    ) -> npt.NDArray[np.intp]:
        """One class's rows of a batch (``members``, in order): updates its threshold and the
        later rows' distances in ``best`` as each row that passes joins; returns the rows that
        join its growing set."""
        stats = self._stats[label]
        mine = best[members]
        open_rows = np.flatnonzero(mine > stats[1]).tolist()
        joined: list[int] = []
        room = self.cap - int(stats[0])
        if not open_rows:
            return members[:0]
        # the distances from each open row (the only ones that may join) to the class's rows
        # from the first open one on
        first = open_rows[0]
        later = members[first:]
        asking = members[open_rows]
        within = (
            norms[asking][:, None] + norms[later][None, :] - 2.0 * (rows[asking] @ rows[later].T)
        )
        within = np.sqrt(np.maximum(within, 0.0))
        for step, t in enumerate(open_rows):
            d = float(mine[t])
            if d != math.inf:
                if d <= repeat or d <= stats[1]:
                    continue  # a repeat adds nothing; d at or below the threshold is not kept
                stats[2] += 1.0  # the growing set accepts d: its threshold may rise
                stats[3] += d
                stats[4] += d * d
                mean = stats[3] / stats[2]
                std = math.sqrt(max(0.0, stats[4] / stats[2] - mean * mean))
                stats[1] = max(stats[1], mean - std)
            # the class's first query starts its growing set; an accepted one joins it
            if len(joined) >= room:
                continue
            joined.append(t)
            if t + 1 < len(members):
                np.minimum(mine[t + 1 :], within[step, t + 1 - first :], out=mine[t + 1 :])
        best[members] = mine
        stats[0] += len(joined)
        return members[joined] if joined else members[:0]

    def due(self, minimum: int, every: int) -> bool:
        return len(self.distances) >= minimum and self.since_test >= every

    def w(self) -> float | None:
        self.since_test = 0
        return shapiro_w(self.distances.values())


def calibrate_prada(
    points: Matrix,
    labels: npt.NDArray[np.int64],
    profile: PradaProfile,
    maxlen: int,
    repeat: float,
    runs: int = 60,
    length: int = 300,
) -> float:
    """PRADA's ``delta`` for this endpoint: the lowest W that *virtual honest clients* reach,
    each a random draw of baseline queries judged as a client is (tested every
    ``prada_every`` distances from ``prada_min`` on), less a margin; never above the profile's
    ``prada_delta``. PRADA's authors set ``delta`` per model from benign traffic; this does the
    same from the endpoint's own traffic, so an endpoint whose natural distance distribution is
    far from normal (heavy-tailed tabular features) does not flag its honest clients."""
    rng = np.random.default_rng(0x5EED)
    n = len(points)
    if n < profile.prada_min + 2:
        return profile.prada_delta
    lowest = 1.0
    step = profile.prada_every
    few_classes = len(unique_ints(labels)) <= 256 and length <= 512  # no shared set, no cap
    rows = points.astype(np.float64)
    norms = np.einsum("ij,ij->i", rows, rows)
    for _ in range(runs):
        size = int(rng.integers(profile.prada_min + step, length + 1))
        order = rng.permutation(n)[: min(size, n)]
        if few_classes:
            client = _VirtualClient(rows[order], norms[order], labels[order], maxlen)
            lowest = min(lowest, client.lowest_w(step, profile.prada_min, repeat))
            continue
        state = Prada(points.shape[1], maxlen)
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            state.add_batch(points[chunk], labels[chunk], repeat)
            if state.due(profile.prada_min, 1):
                w = state.w()
                if w is not None:
                    lowest = min(lowest, w)
    return min(profile.prada_delta, lowest - profile.prada_margin)


class _VirtualClient:
    """A virtual honest client for :func:`calibrate_prada`: what :class:`Prada` does with its
    queries fed ``step`` at a time, on distance matrices taken once, one per class (queries of
    different classes never meet; a few hundred queries, so no growing set reaches its cap
    and no class shares a set)."""

    def __init__(self, rows: npt.NDArray[np.float64], norms: npt.NDArray[np.float64],
                 labels: npt.NDArray[np.int64], maxlen: int) -> None:  # fmt: skip
        self.labels = labels
        self.maxlen = maxlen
        self.place = np.empty(len(labels), dtype=np.intp)  # each query's row in its class
        self.dist: dict[int, npt.NDArray[np.float64]] = {}
        by_class = np.argsort(labels, kind="stable")
        grouped = labels[by_class]
        edges = (np.flatnonzero(grouped[1:] != grouped[:-1]) + 1).tolist()
        for low, high in zip([0, *edges], [*edges, len(labels)], strict=True):
            members = by_class[low:high]
            part, part_norms = rows[members], norms[members]
            square = part_norms[:, None] + part_norms[None, :] - 2.0 * (part @ part.T)
            self.dist[int(grouped[low])] = np.sqrt(np.maximum(square, 0.0))
            self.place[members] = np.arange(high - low)

    def lowest_w(self, step: int, minimum: int, repeat: float) -> float:
        """The lowest W of the distance set, tested after every ``step`` queries that added a
        distance, once it holds ``minimum``."""
        labels, place = self.labels, self.place
        best = {label: np.full(len(d), np.inf) for label, d in self.dist.items()}
        # threshold, accepted distances, their sum and sum of squares
        stats = {label: [0.0, 0.0, 0.0, 0.0] for label in self.dist}
        distances: deque[float] = deque(maxlen=self.maxlen)
        lowest, fresh = 1.0, 0
        for start in range(0, len(labels), step):
            chunk = start + np.argsort(labels[start : start + step], kind="stable")
            for t in chunk.tolist():  # class by class, as Prada.add_pieces orders a piece
                label = int(labels[t])
                mine, row = best[label], int(place[t])
                d = float(mine[row])
                if d != math.inf:
                    if d <= repeat:
                        continue
                    distances.append(d)
                    fresh += 1
                    group = stats[label]
                    if d <= group[0]:
                        continue
                    group[1] += 1.0
                    group[2] += d
                    group[3] += d * d
                    mean = group[2] / group[1]
                    std = math.sqrt(max(0.0, group[3] / group[1] - mean * mean))
                    group[0] = max(group[0], mean - std)
                np.minimum(mine, self.dist[label][row], out=mine)  # it joins the growing set
            if len(distances) >= minimum and fresh:
                fresh = 0
                w = shapiro_w(np.fromiter(distances, np.float64, len(distances)))
                if w is not None:
                    lowest = min(lowest, w)
        return lowest
