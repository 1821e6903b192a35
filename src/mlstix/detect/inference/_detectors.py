"""Per-client detectors over a stream of queries, each with bounded state.

Four detectors run side by side on every client's queries, in the endpoint's feature space
(see :mod:`._baseline`):

**Extraction, PRADA** (Juuti et al., EuroS&P 2019; :mod:`._prada`): the distribution of each
query's minimum distance to the client's earlier queries of the same class is tested for
normality; synthetic extraction queries break it.

**Extraction, input-space coverage**: the share of a client's queries that lie off the
endpoint's natural input distribution. Random-query extraction (Tramèr et al., USENIX
Security 2016) sweeps the whole input box; honest clients stay on the data's manifold.

**Extraction, repeated steps**: queries that sit at the same per-feature offset from an earlier
query as other queries of the client do, the signature of synthetic data made by ``x +/-
lambda * sign(gradient)`` steps (Jacobian-based augmentation, Papernot et al., AsiaCCS 2017;
PRADA's random-sign T-RND variant; iterative FGSM-style probing): only the signs differ from
step to step. Natural neighbours differ by amounts that do not repeat.

**Adversarial probing, stateful near-duplicate detection** (Chen, Carlini, Wagner 2020;
Blacklight, Li et al., USENIX Security 2022). Query-based attacks (boundary attack,
HopSkipJump, score-based estimators) send many queries within a tiny distance of each other;
natural traffic does not. Each client keeps its last ``window`` queries; a query whose nearest
earlier query is closer than a small share of the natural nearest-neighbour distance (but is
not an exact repeat, such as a health check) is a near-duplicate.

A client's queries are judged in small batches with array operations; what depends on order
(windows, growing sets, the first query at which a detector fires) is exact.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._baseline import REPEAT, Baseline
from mlstix.detect.inference._nearest import nearest_in_window, nearest_index
from mlstix.detect.inference._prada import Prada
from mlstix.detect.inference._steps import StepMemory

__all__ = ["PROFILES", "ClientState", "Detection", "Profile", "Where"]

Matrix = npt.NDArray[np.float32]
_SEGMENT = 64  # PRADA is tested at most once per this many of a client's queries
_BLOCK = 256  # a client's queries are judged this many at a time


@dataclass(frozen=True)
class Profile:
    """Detector thresholds. ``balanced`` is the default; ``strict`` flags earlier and accepts
    more false positives."""

    name: str
    prada_delta: float  # Shapiro–Wilk W below this flags extraction (the most it may be)
    prada_margin: float  # calibrated delta = lowest W of virtual honest clients - margin
    prada_min: int  # distances in D before the first test
    prada_every: int  # test every N new distances
    dup_ratio: float  # near-duplicate radius, as a share of the natural NN distance
    dup_count: int  # near-duplicates (or signed steps) within the window that flag a client
    ood_fence: float  # interquartile ranges above the third quartile of natural distances
    ood_fraction: float  # share of off-manifold queries that flags extraction
    ood_min: int  # queries before the coverage test


PROFILES = {
    "balanced": Profile("balanced", 0.90, 0.10, 100, 10, 0.10, 8, 3.0, 0.25, 30),
    "strict": Profile("strict", 0.94, 0.0, 50, 5, 0.15, 5, 2.0, 0.15, 20),
}


@dataclass(frozen=True)
class Detection:
    """Where a detector first fired for a client."""

    detector: str
    query: int  # 1-based index of the client's query that fired it
    statistic: dict[str, Any]
    path: str
    line: int
    time: float | None


class _Window:
    """How many of the last ``size`` flags are set, for each position of a new batch."""

    __slots__ = ("flags", "live", "size", "total")

    def __init__(self, size: int) -> None:
        self.size = size
        self.flags = np.zeros(0, dtype=np.bool_)
        self.live = 0  # flags set in ``flags``
        self.total = 0

    def push(self, new: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64] | None:
        """The counts, or None where every one is 0 (no flag in the window or the batch: the
        common case, answered without arrays)."""
        added = int(np.count_nonzero(new))
        self.total += added
        if not added and not self.live:
            self.flags = new[:0]  # flags that are not set change no count
            return None
        return self._counts(new)

    def push_none(self, count: int) -> npt.NDArray[np.int64] | None:
        """:meth:`push` of ``count`` flags that are not set."""
        if not self.live:
            self.flags = self.flags[:0]
            return None
        return self._counts(np.zeros(count, dtype=np.bool_))

    def _counts(self, new: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        joined = np.concatenate([self.flags, new])
        sums = np.concatenate([[0], np.cumsum(joined, dtype=np.int64)])
        ends = np.arange(len(self.flags) + 1, len(joined) + 1)
        counts: npt.NDArray[np.int64] = sums[ends] - sums[np.maximum(ends - self.size, 0)]
        self.flags = joined[-self.size :]
        self.live = int(np.count_nonzero(self.flags))
        return counts


@dataclass(frozen=True, slots=True)
class Where:
    """Where a batch's queries sit in the logs: the file (an index into ``names``), the line
    and the time (NaN where the record has none)."""

    names: list[str]
    files: npt.NDArray[np.int64]
    lines: npt.NDArray[np.int64]
    times: npt.NDArray[np.float64]

    def take(self, rows: npt.NDArray[np.int64]) -> Where:
        return Where(self.names, self.files[rows], self.lines[rows], self.times[rows])

    def part(self, rows: slice) -> Where:
        return Where(self.names, self.files[rows], self.lines[rows], self.times[rows])

    def at(self, index: int) -> tuple[str, int, float | None]:
        when = float(self.times[index])
        return (
            self.names[int(self.files[index])],
            int(self.lines[index]),
            (None if math.isnan(when) else when),
        )


def _coverage(
    total: int, offs: list[int], before: int, k: int, profile: Profile
) -> tuple[int, float] | None:
    """The first of ``k`` new queries at which the off-manifold share reaches the profile's
    fraction (from the ``ood_min``-th query of the client on), and the share there (rounded):
    ``total`` off-manifold queries among the ``before`` earlier ones, ``offs`` the positions
    of the new off-manifold ones, ascending. Between two off-manifold queries the share only
    falls, so only the first query tested and the off-manifold ones can be the first hit."""
    first = max(0, profile.ood_min - before - 1)
    if first >= k:
        return None
    fraction = profile.ood_fraction
    taken = bisect.bisect_right(offs, first)  # off-manifold queries up to ``first``
    count = total + taken
    if count >= fraction * (before + first + 1):
        return first, round(count / (before + first + 1), 4)
    for i in offs[taken:]:
        count += 1
        if count >= fraction * (before + i + 1):
            return i, round(count / (before + i + 1), 4)
    return None


@dataclass
class ClientState:
    """Everything kept about one client: bounded by the window, the growing-set cap and the
    distance-set length."""

    dim: int
    window: int
    profile: Profile
    queries: int = 0
    off_manifold: int = 0
    first_time: float | None = None
    last_time: float | None = None
    detections: dict[str, Detection] = field(default_factory=dict)
    last_w: float | None = None
    steps_peak: int = 0  # the most repeated steps seen in a window (for calibration)
    _hist: Matrix = field(init=False, repr=False)
    _dups: _Window = field(init=False, repr=False)
    _steps: _Window = field(init=False, repr=False)
    _step_memory: StepMemory = field(init=False, repr=False)
    _prada: Prada = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._hist = np.empty((0, self.dim), dtype=np.float32)
        self._dups = _Window(self.window)
        self._steps = _Window(self.window)
        self._step_memory = StepMemory(self.dim)
        self._prada = Prada(self.dim, max(4 * self.window, 2 * self.profile.prada_min))

    @property
    def near_duplicates(self) -> int:
        return self._dups.total

    @property
    def sign_steps(self) -> int:
        return self._steps.total

    def nearest_previous(self, batch: Matrix) -> tuple[npt.NDArray[np.float64], Matrix]:
        """For each row of ``batch``: the distance to the nearest of this client's ``window``
        queries before it (the remembered ones and the rows before it in ``batch``), and that
        query (NaN where there is none); exact, so that a repeated query is at 0 (see
        :mod:`._nearest`)."""
        return nearest_in_window(self._hist, batch, self.window)

    def update(self, batch: Matrix, labels: npt.NDArray[np.int64], off: npt.NDArray[np.bool_],
               where: Where, baseline: Baseline,
               span: tuple[float, float] | None = None) -> None:  # fmt: skip
        """Judge ``batch`` (this client's next queries, in order) and remember them. The
        result does not depend on how a client's queries are cut into batches. ``span``: the
        earliest and latest of ``where.times`` (NaN where there is none), when the caller has
        them already."""
        if span is None:
            times = where.times[~np.isnan(where.times)]
            span = (float(times.min()), float(times.max())) if times.size else (math.nan, 0.0)
        low, high = span
        if not math.isnan(low):
            self.first_time = low if self.first_time is None else min(self.first_time, low)
            self.last_time = high if self.last_time is None else max(self.last_time, high)
        if len(batch) <= _BLOCK:  # the common case: one block, as it came
            self._update(batch, labels, off, where, baseline)
            return
        for start in range(0, len(batch), _BLOCK):
            part = slice(start, start + _BLOCK)  # views: each block's rows are contiguous
            self._update(batch[part], labels[part], off[part], where.part(part), baseline)

    def _update(self, batch: Matrix, labels: npt.NDArray[np.int64], off: npt.NDArray[np.bool_],
                where: Where, baseline: Baseline) -> None:  # fmt: skip
        profile = self.profile
        before = self.queries
        k = len(batch)
        pool, index, nearest = nearest_index(self._hist, batch, self.window)
        repeat = REPEAT * baseline.nn_radius
        radius = profile.dup_ratio * baseline.nn_radius
        steps = self._step_memory.judge_queries(pool, len(self._hist), index)
        # (the common case: no query within the radius, NaN distances aside, so no duplicate)
        if np.fmin.reduce(nearest) < radius:
            # an exact repeat (a health check, a retry) tells an attacker nothing: not a probe
            dups = (nearest > repeat) & (nearest < radius)
            steps = steps & ~dups
            dup_counts = self._dups.push(dups)
        else:
            dup_counts = self._dups.push_none(k)
        step_counts = self._steps.push(steps)
        self.queries += k
        self._hist = pool[-self.window :]

        def fire(detector: str, index: int, stat: dict[str, Any]) -> None:
            path, line, when = where.at(index)
            self.detections[detector] = Detection(detector, before + index + 1, stat, path,
                                                  line, when)  # fmt: skip

        if dup_counts is not None and "probing" not in self.detections:
            hit = dup_counts >= profile.dup_count
            if hit.any():
                i = int(hit.argmax())
                radius = round(profile.dup_ratio * baseline.nn_radius, 6)
                stat = {"near_duplicates_in_window": int(dup_counts[i]),
                        "window": self.window, "radius": radius}  # fmt: skip
                fire("probing", i, stat)
        if step_counts is not None:
            self.steps_peak = max(self.steps_peak, int(step_counts.max()))
        if step_counts is not None and "steps" not in self.detections:
            need = max(profile.dup_count, baseline.steps_count)
            hit = step_counts >= need
            if hit.any():
                i = int(hit.argmax())
                fire("steps", i, {"sign_steps_in_window": int(step_counts[i]),
                                  "window": self.window, "threshold": need})  # fmt: skip
        if "coverage" in self.detections:
            self.off_manifold += int(np.count_nonzero(off))
        else:
            offs = np.flatnonzero(off).tolist()
            reached = _coverage(self.off_manifold, offs, before, k, profile)
            self.off_manifold += len(offs)
            if reached is not None:
                i, share = reached
                fire("coverage", i, {"off_manifold_share": share,
                                     "threshold": profile.ood_fraction})  # fmt: skip
        # PRADA: tested at the client's queries _SEGMENT, 2 * _SEGMENT, ... (when enough new
        # distances have come since the last test), whatever the batches
        stops = list(range(_SEGMENT - before % _SEGMENT, k + 1, _SEGMENT))
        if not stops or stops[-1] != k:
            stops.append(k)
        open_end = (before + k) % _SEGMENT != 0  # the next batch completes the last piece
        for stop in self._prada.add_pieces(batch, labels, stops, repeat, open_end):
            at_test = (before + stop) % _SEGMENT == 0
            if not at_test or "prada" in self.detections:
                continue
            if not self._prada.due(profile.prada_min, profile.prada_every):
                continue
            w = self._prada.w()
            self.last_w = w
            if w is not None and w < baseline.prada_delta:
                stat = {"shapiro_wilk_w": round(w, 4), "delta": round(baseline.prada_delta, 4),
                        "distances": len(self._prada.distances)}  # fmt: skip
                fire("prada", stop - 1, stat)
