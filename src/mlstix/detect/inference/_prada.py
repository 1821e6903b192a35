"""PRADA (Juuti, Szyller, Marchal, Asokan: "PRADA: Protecting against DNN Model Stealing
Attacks", EuroS&P 2019), one client at a time.

For each predicted class a *growing set* of the client's queries is kept. Each new query's
minimum distance ``d`` to its class's growing set joins the client's distance set ``D``; the
query joins the growing set when ``d`` exceeds the class threshold, which rises to
``mean - std`` of the growing set's own distances. Natural queries give a ``D`` close to a
normal distribution; synthetic extraction queries (Jacobian-based augmentation, perturbations
of seeds, line searches) do not. The Shapiro–Wilk statistic ``W`` of ``D`` below ``delta``
flags the client.

A query's distance is exact in float64 (summed feature by feature, so a repeated query is at
0); the growing sets are :mod:`._psets`' (the compiled kernel ``_kprada`` when it is there,
NumPy's otherwise, with the same bits). This module keeps the order in which distances join
``D``, the classes' sets, W, and the calibration of ``delta``.

W is taken with ``D``'s far-out upper tail clamped to Tukey's fence (:func:`._stats.prada_w`):
one natural query unlike anything in the baseline would otherwise decide the test alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._order import unique_ints
from mlstix.detect.inference._psets import kernel_module, make_sets
from mlstix.detect.inference._stats import coefficients, prada_w

if TYPE_CHECKING:
    from mlstix.detect.inference._kprada import DSet

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


class KernelRing:
    """The kernel's ``D`` (``_kprada.DSet``) seen as a :class:`Ring`."""

    __slots__ = ("_dset",)

    def __init__(self, dset: DSet) -> None:
        self._dset = dset

    def __len__(self) -> int:
        return len(self._dset)

    def values(self) -> npt.NDArray[np.float64]:
        """The values held, oldest first."""
        return np.frombuffer(self._dset.values(), dtype=np.float64).copy()


class Prada:
    """PRADA's state for one client: a growing set per predicted class (at most ``cap`` queries
    each, at most 256 classes; later ones share one set) and the distance set ``D`` (its most
    recent ``maxlen`` values). The sets and ``D`` are the compiled kernel's when it is there
    (``kernel`` None: ``_kprada.DSet`` keeps ``D`` sorted as values come and go, and orders each
    piece's distances in C), or NumPy's (``kernel`` False); both give the same bits (see
    :mod:`._psets`; ``D`` holds only finite distances above ``repeat``, so values that compare
    equal are the same bits and a sorted ``D`` is the same however it is kept)."""

    __slots__ = ("_classes", "_dset", "_sets", "_slots", "_waiting", "cap", "dim", "distances",
                 "since_test")  # fmt: skip

    def __init__(self, dim: int, maxlen: int, cap: int = 512, kernel: bool | None = None) -> None:
        self.dim = dim
        self.cap = cap
        self._sets = make_sets(dim, cap, kernel)
        module = kernel_module(kernel)
        maker = None if module is None else getattr(module, "DSet", None)
        self._slots: dict[int, int] = {}  # each growing set's slot, in order of registration
        self._classes: set[int] = set()
        self._dset: DSet | None = None if maker is None else maker(maxlen)
        self.distances = Ring(maxlen) if self._dset is None else KernelRing(self._dset)
        self.since_test = 0
        # the classes and distances of a piece that the next batch completes
        self._waiting: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None = None

    @property
    def _stats(self) -> dict[int, list[float]]:
        """Per growing set: [members, threshold, accepted distances, their sum, their sum of
        squares]."""
        out = {}
        for label, slot in self._slots.items():
            count, threshold, accepted, total, squares, _ = self._sets.group(slot)
            out[label] = [float(count), threshold, accepted, total, squares]
        return out

    def _class(self, label: int) -> int:
        if label in self._classes:
            return label
        if len(self._classes) >= 256:  # bounded: classes past 256 share one set
            label = -2
        self._classes.add(label)
        self._slots.setdefault(label, len(self._slots))
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
        ``D`` does not depend on where batches end)."""
        k = len(batch)
        if k == 0:
            return
        classes = self._classes_of(labels, stops)
        present = unique_ints(classes)
        table = np.array([self._slots[int(c)] for c in present.tolist()], dtype=np.int64)
        if len(present) == 1:
            slots = np.full(k, table[0], dtype=np.int64)
        else:
            slots = table[np.searchsorted(present, classes)]
        best = self._sets.add(batch, slots, repeat)
        if self._dset is not None:  # the kernel orders the pieces and keeps D
            start, last = 0, stops[-1]
            for stop in stops:
                piece = best[start:stop], classes[start:stop]
                self.since_test += self._dset.take(*piece, repeat, open_end and stop == last)
                start = stop
                yield stop
            return
        # D takes each piece's distances class by class
        by_class = np.argsort(classes, kind="stable")
        if len(stops) == 1:
            order = by_class
        else:
            pieces = np.searchsorted(np.array(stops), by_class, side="right")
            order = by_class[np.argsort(pieces, kind="stable")]
        values = best[order]
        counted = (values != np.inf) & (values > repeat)
        ring = self.distances
        assert isinstance(ring, Ring)  # (the NumPy path's D)
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
                ring.extend(fresh)
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

    def due(self, minimum: int, every: int) -> bool:
        return len(self.distances) >= minimum and self.since_test >= every

    def w(self) -> float | None:
        self.since_test = 0
        if self._dset is None:
            return prada_w(self.distances.values())
        n = len(self._dset)  # the kernel's D: kept sorted, finite
        return self._dset.w(coefficients(n)) if 3 <= n <= 5000 else None


def calibrate_prada(
    points: Matrix,
    labels: npt.NDArray[np.int64],
    profile: PradaProfile,
    maxlen: int,
    repeat: float,
    runs: int = 60,
    length: int = 300,
    kernel: bool | None = None,
) -> float:
    """PRADA's ``delta`` for this endpoint: the lowest W that *virtual honest clients* reach,
    each a random draw of baseline queries (with replacement when the baseline holds fewer
    distinct queries than the client sends) judged as a client is (fed ``prada_every`` at a time
    and tested after each feed that added a distance, from ``prada_min`` distances on), less a
    margin; never above the profile's ``prada_delta``. PRADA's authors set ``delta`` per model
    from benign traffic; this does the same from the endpoint's own traffic, so an endpoint
    whose natural distance distribution is far from normal (heavy-tailed tabular features) does
    not flag its honest clients."""
    rng = np.random.default_rng(0x5EED)
    n = len(points)
    if n < 2:
        return profile.prada_delta
    lowest = 1.0
    step = profile.prada_every
    present = unique_ints(labels)
    few_classes = len(present) <= 256 and length <= 512  # no shared set, no cap reached
    slots = np.searchsorted(present, labels).astype(np.int64)  # in the order of the labels
    for _ in range(runs):
        size = int(rng.integers(profile.prada_min + step, length + 1))
        # a small endpoint's clients send the same inputs again: so do its virtual ones
        order = rng.permutation(n)[:size] if size <= n else rng.integers(0, n, size=size)
        if few_classes:
            client = _VirtualClient(points[order], None, slots[order], maxlen, kernel)
            lowest = min(lowest, client.lowest_w(step, profile.prada_min, repeat))
            continue
        state = Prada(points.shape[1], maxlen, kernel=kernel)
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
    queries fed ``step`` at a time, its growing sets fed all queries in one call (their order
    within each feed put class by class, as a piece's distances join ``D``; queries of
    different classes never meet, so the sets come out the same), then W of ``D`` as it stood
    after each feed. A few hundred queries: no set reaches its cap, no class shares a set."""

    def __init__(self, rows: Matrix | npt.NDArray[np.float64],
                 norms: npt.NDArray[np.float64] | None, labels: npt.NDArray[np.int64],
                 maxlen: int, kernel: bool | None = None) -> None:  # fmt: skip
        self.rows = rows
        self.labels = labels  # any integers: classes are taken in their order
        self.maxlen = maxlen
        self.kernel = kernel

    def lowest_w(self, step: int, minimum: int, repeat: float) -> float:
        """The lowest W of the distance set, tested after every ``step`` queries that added a
        distance, once it holds ``minimum``."""
        k = len(self.labels)
        if k == 0:
            return 1.0
        feed = np.arange(k) // step
        order = np.lexsort((self.labels, feed))  # feed by feed, class by class, in order
        sets = make_sets(self.rows.shape[1], max(512, k), self.kernel)
        labels = self.labels[order].astype(np.int64)
        slots = np.searchsorted(unique_ints(labels), labels).astype(np.int64)
        best = sets.add(np.ascontiguousarray(self.rows[order]), slots, repeat)
        counted = (best != np.inf) & (best > repeat)
        values = best[counted]
        ends = np.minimum(np.arange(step, k + step, step), k)
        totals = np.cumsum(counted)[ends - 1].tolist()
        lowest, before = 1.0, 0
        for total in totals:
            if total > before and min(total, self.maxlen) >= minimum:
                w = prada_w(values[max(0, total - self.maxlen) : total])
                if w is not None:
                    lowest = min(lowest, w)
            before = total
        return lowest
