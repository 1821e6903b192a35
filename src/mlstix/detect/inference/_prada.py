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
product per class, and only the order-dependent bookkeeping is a Python loop.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

import numpy as np
import numpy.typing as npt

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


class _Growing:
    """One growing set (per client and class), capped."""

    __slots__ = ("count", "dg_n", "dg_sq", "dg_sum", "points", "threshold")

    def __init__(self, dim: int) -> None:
        self.points = np.empty((8, dim), dtype=np.float32)
        self.count = 0
        self.threshold = 0.0
        self.dg_n = 0
        self.dg_sum = 0.0
        self.dg_sq = 0.0

    def add(self, x: Matrix, cap: int) -> None:
        if self.count >= cap:
            return
        if self.count == len(self.points):
            grown = np.empty((min(cap, 2 * len(self.points)), self.points.shape[1]), np.float32)
            grown[: self.count] = self.points[: self.count]
            self.points = grown
        self.points[self.count] = x
        self.count += 1

    def accept(self, d: float) -> None:
        self.dg_n += 1
        self.dg_sum += d
        self.dg_sq += d * d
        mean = self.dg_sum / self.dg_n
        std = math.sqrt(max(0.0, self.dg_sq / self.dg_n - mean * mean))
        self.threshold = max(self.threshold, mean - std)


class Prada:
    """PRADA's state for one client: a growing set per predicted class and the distance set
    ``D`` (its most recent ``maxlen`` values)."""

    __slots__ = ("_growing", "cap", "dim", "distances", "since_test")

    def __init__(self, dim: int, maxlen: int, cap: int = 512) -> None:
        self.dim = dim
        self.cap = cap
        self._growing: dict[int, _Growing] = {}
        self.distances: deque[float] = deque(maxlen=maxlen)
        self.since_test = 0

    def _set(self, label: int) -> _Growing:
        grow = self._growing.get(label)
        if grow is None:
            if len(self._growing) >= 256:  # bounded: classes past 256 share one set
                label = -2
                grow = self._growing.get(label)
            if grow is None:
                grow = self._growing[label] = _Growing(self.dim)
        return grow

    def add_batch(self, batch: Matrix, labels: npt.NDArray[np.int64], repeat: float) -> None:
        """Add a batch of queries (in order). Within a class, the order of the batch is kept;
        across classes it does not matter (each class has its own growing set)."""
        for label in np.unique(labels):
            rows = batch[labels == label]
            grow = self._set(int(label))
            if grow.count:
                best = np.sqrt(sq_dists(rows, grow.points[: grow.count]).min(axis=1))
            else:
                best = np.full(len(rows), np.inf)
            within: npt.NDArray[np.float64] | None = None
            for t in range(len(rows)):
                d = float(best[t])
                if math.isinf(d):  # the class's first query starts its growing set
                    within = self._within(rows, within)
                    self._join(grow, rows, t, best, within)
                    continue
                if d <= repeat:
                    continue  # a repeated query adds nothing to the distance distribution
                self.distances.append(d)
                self.since_test += 1
                if d > grow.threshold:
                    grow.accept(d)
                    within = self._within(rows, within)
                    self._join(grow, rows, t, best, within)

    @staticmethod
    def _within(rows: Matrix, within: npt.NDArray[np.float64] | None) -> npt.NDArray[np.float64]:
        return np.sqrt(sq_dists(rows, rows)) if within is None else within

    def _join(
        self,
        grow: _Growing,
        rows: Matrix,
        t: int,
        best: npt.NDArray[np.float64],
        within: npt.NDArray[np.float64],
    ) -> None:
        """``rows[t]`` joins the growing set: later rows of the batch now also measure to it."""
        if grow.count >= self.cap:
            return
        grow.add(rows[t], self.cap)
        if t + 1 < len(rows):
            np.minimum(best[t + 1 :], within[t + 1 :, t], out=best[t + 1 :])

    def due(self, minimum: int, every: int) -> bool:
        return len(self.distances) >= minimum and self.since_test >= every

    def w(self) -> float | None:
        self.since_test = 0
        return shapiro_w(np.fromiter(self.distances, np.float64, len(self.distances)))


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
    for _ in range(runs):
        size = int(rng.integers(profile.prada_min + step, length + 1))
        order = rng.permutation(n)[: min(size, n)]
        state = Prada(points.shape[1], maxlen)
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            state.add_batch(points[chunk], labels[chunk], repeat)
            if state.due(profile.prada_min, 1):
                w = state.w()
                if w is not None:
                    lowest = min(lowest, w)
    return min(profile.prada_delta, lowest - profile.prada_margin)
