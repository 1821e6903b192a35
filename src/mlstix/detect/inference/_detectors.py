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

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._baseline import REPEAT, Baseline
from mlstix.detect.inference._prada import Prada

__all__ = ["PROFILES", "ClientState", "Detection", "Profile", "Where", "repeated_steps"]

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
    "balanced": Profile("balanced", 0.90, 0.05, 100, 10, 0.10, 8, 3.0, 0.25, 30),
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


_AGREE = 0.05  # two steps agree on a feature within this share of the larger
_QUORUM = 0.8  # ... on at least this share of the features where both moved
_LOOKBACK = 64  # a step is compared with this many earlier steps of the client
# The exact test is elementwise over every pair of steps; a bound taken with two matrix
# products skips the pairs that cannot pass it. Agreeing features have log-steps within
# c = -log(0.95) of each other, so cos(w * (log a - log b)) >= cos(0.5) for w = 0.5 / c; any
# other feature is >= -1. A pair agreeing on a share q >= 0.8 of its M common movers therefore
# has sum(cos) >= M * (0.8 * (1 + cos 0.5) - 1). Natural steps differ at random, and their
# cosines sum to about 0.
_OMEGA = 0.5 / (-math.log(1.0 - _AGREE) + 1e-3)
_BOUND = _QUORUM * (1.0 + math.cos(0.5)) - 1.0


@lru_cache(maxsize=512)
def _band(before: int, count: int) -> npt.NDArray[np.bool_]:
    """Which pool rows query r (row ``before + r`` of a pool) meets: the ``_LOOKBACK`` before
    it."""
    gap = (before + np.arange(count))[:, None] - np.arange(before + count)[None, :]
    band: npt.NDArray[np.bool_] = (gap > 0) & (gap <= _LOOKBACK)
    return band


@lru_cache(maxsize=8)
def _probe(dim: int) -> npt.NDArray[np.float64]:
    """A fixed random projection: a number per query that equal queries share."""
    out: npt.NDArray[np.float64] = np.random.default_rng(0xF1).normal(size=dim)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=16)
def _outside(before: int, count: int, window: int) -> npt.NDArray[np.bool_]:
    """Which candidates (rows: ``before`` remembered queries, then ``count`` new ones) are not
    among the ``window`` queries before each new one (columns)."""
    gap = (before + np.arange(count))[None, :] - np.arange(before + count)[:, None]
    out: npt.NDArray[np.bool_] = (gap <= 0) | (gap > window)
    return out


def _waves(pool: Matrix) -> tuple[Matrix, Matrix]:
    """Per step, ``[cos, sin, 1]`` of ``_OMEGA * log(step)`` on the features it moved (zero
    elsewhere), and the same with ``-_BOUND'`` in place of the 1: the product of a query's
    first with a pool step's second is ``sum(cos) - _BOUND' * common movers``."""
    moved = (pool > 1e-6).astype(np.float32)
    angle = np.log(np.maximum(pool, np.float32(1e-6))) * np.float32(_OMEGA)
    query = np.concatenate([np.cos(angle) * moved, np.sin(angle) * moved, moved], axis=1)
    other = query.copy()
    other[:, 2 * pool.shape[1] :] *= np.float32(-(_BOUND - 1e-3))
    return query, other


def repeated_steps(
    steps: Matrix,
    ends: npt.NDArray[np.float64],
    templates: Matrix,
    template_ends: npt.NDArray[np.float64],
) -> npt.NDArray[np.bool_]:
    """Which rows of ``steps`` (each query's absolute difference to its nearest earlier query,
    per feature; NaN where there is none) repeat one of the client's ``_LOOKBACK`` earlier
    steps (``templates``, then this batch's own): within 5 % on at least 80 % of the features
    where both moved (at least a quarter of them), the two steps' lengths within 20 %.
    Synthetic augmentation moves every query by the same ``lambda`` per feature (only the
    signs differ), whatever scale the attacker chose; natural neighbours differ by amounts that
    do not repeat. ``ends`` are fingerprints of the two queries each step joins: the same two
    natural queries met again (a resubmission) are not a repeat."""
    out = np.zeros(len(steps), dtype=np.bool_)
    ok = np.isfinite(steps).all(axis=1)
    mine, mine_ends = steps[ok], ends[ok]
    if not len(mine):
        return out
    pool = np.concatenate([templates, mine])
    pool_ends = np.concatenate([template_ends, mine_ends])
    query, other = _waves(pool)
    # a step that moved fewer features than a match needs (a repeated query moved none)
    # matches nothing
    usable = np.count_nonzero(pool > 1e-6, axis=1) >= max(3, steps.shape[1] // 4)
    first = len(templates)
    hit = np.zeros(len(mine), dtype=np.bool_)
    for start in range(0, len(mine), _LOOKBACK):
        low = max(0, first + start - _LOOKBACK)
        high = first + min(start + _LOOKBACK, len(mine))
        before = first + start - low
        # the bound first: pairs whose cosine sum shows they cannot agree on 80 % are skipped
        bound = query[low + before : high] @ other[low:high].T
        candidate = (bound >= -0.01) & _band(before, high - low - before)
        candidate &= usable[low + before : high, None] & usable[None, low:high]
        rows, cols = np.nonzero(candidate)
        if rows.size:
            found = _repeats(pool[low:high], pool_ends[low:high], before, rows, cols)
            hit[start : high - first] = found
    out[np.flatnonzero(ok)] = hit
    return out


def _repeats(
    pool: Matrix,
    ends: npt.NDArray[np.float64],
    before: int,
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
) -> npt.NDArray[np.bool_]:
    """The exact test on the candidate pairs (query ``before + rows``, pool step ``cols``)."""
    hit = np.zeros(len(pool) - before, dtype=np.bool_)
    a, b = pool[before + rows], pool[cols]
    mine = np.sqrt(np.einsum("ij,ij->i", a, a))
    other = np.sqrt(np.einsum("ij,ij->i", b, b))
    keep = np.abs(mine - other) <= 0.2 * np.maximum(mine, other)
    mine_ends, other_ends = ends[before + rows], ends[cols]
    keep &= ~(mine_ends[:, :, None] == other_ends[:, None, :]).any(axis=(1, 2))
    rows, a, b = rows[keep], a[keep], b[keep]
    # features pinned at a bound (a pixel already 0) cannot move: compare where both moved
    both = (a > 1e-6) & (b > 1e-6)
    same = np.abs(a - b) <= _AGREE * np.maximum(a, b)
    movers = both.sum(axis=1)
    minimum = max(3, pool.shape[1] // 4)
    match = ((same & both).sum(axis=1) >= _QUORUM * movers) & (movers >= minimum)
    hit[rows[match]] = True
    return hit


class _Window:
    """How many of the last ``size`` flags are set, for each position of a new batch."""

    __slots__ = ("flags", "size", "total")

    def __init__(self, size: int) -> None:
        self.size = size
        self.flags = np.zeros(0, dtype=np.bool_)
        self.total = 0

    def push(self, new: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        joined = np.concatenate([self.flags, new])
        sums = np.concatenate([[0], np.cumsum(joined, dtype=np.int64)])
        ends = np.arange(len(self.flags) + 1, len(joined) + 1)
        counts: npt.NDArray[np.int64] = sums[ends] - sums[np.maximum(ends - self.size, 0)]
        self.flags = joined[-self.size :]
        self.total += int(new.sum())
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

    def at(self, index: int) -> tuple[str, int, float | None]:
        when = float(self.times[index])
        return (
            self.names[int(self.files[index])],
            int(self.lines[index]),
            (None if math.isnan(when) else when),
        )


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
    _hist: npt.NDArray[np.float64] = field(init=False, repr=False)
    _dups: _Window = field(init=False, repr=False)
    _steps: _Window = field(init=False, repr=False)
    _templates: Matrix = field(init=False, repr=False)
    _template_ends: npt.NDArray[np.float64] = field(init=False, repr=False)
    _probe: npt.NDArray[np.float64] = field(init=False, repr=False)
    _prada: Prada = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._hist = np.empty((0, self.dim), dtype=np.float64)
        self._dups = _Window(self.window)
        self._steps = _Window(self.window)
        self._templates = np.empty((0, self.dim), dtype=np.float32)
        self._template_ends = np.empty((0, 2), dtype=np.float64)
        self._probe = _probe(self.dim)
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
        query (NaN where there is none). In float64, so that a repeated query is at 0."""
        k = len(batch)
        h = len(self._hist)
        rows = batch.astype(np.float64)
        candidates = np.concatenate([self._hist, rows]) if h else rows
        norms = np.einsum("ij,ij->i", candidates, candidates)
        # |x - c|^2 = |x|^2 + (|c|^2 - 2 x.c): the nearest c needs one product
        score = candidates @ rows.T
        score *= -2.0
        score += norms[:, None]
        np.putmask(score, _outside(h, k, self.window), np.inf)
        best = score.argmin(axis=0)
        square = norms[h:] + score[best, np.arange(k)]
        nearest = np.sqrt(np.maximum(square, 0.0))
        previous = candidates[best].astype(np.float32)
        previous[~np.isfinite(square)] = np.nan
        return nearest, previous

    def update(self, batch: Matrix, labels: npt.NDArray[np.int64], off: npt.NDArray[np.bool_],
               where: Where, baseline: Baseline) -> None:  # fmt: skip
        """Judge ``batch`` (this client's next queries, in order) and remember them. The
        result does not depend on how a client's queries are cut into batches."""
        times = where.times[~np.isnan(where.times)]
        if times.size:
            low, high = float(times.min()), float(times.max())
            self.first_time = low if self.first_time is None else min(self.first_time, low)
            self.last_time = high if self.last_time is None else max(self.last_time, high)
        for start in range(0, len(batch), _BLOCK):
            rows = np.arange(start, min(start + _BLOCK, len(batch)))
            self._update(batch[rows], labels[rows], off[rows], where.take(rows), baseline)

    def _update(self, batch: Matrix, labels: npt.NDArray[np.int64], off: npt.NDArray[np.bool_],
                where: Where, baseline: Baseline) -> None:  # fmt: skip
        profile = self.profile
        before = self.queries
        k = len(batch)
        nearest, previous = self.nearest_previous(batch)
        repeat = REPEAT * baseline.nn_radius
        # an exact repeat (a health check, a retry) tells an attacker nothing: not a probe
        dups = (nearest > repeat) & (nearest < profile.dup_ratio * baseline.nn_radius)
        moves = np.abs(batch - previous)
        ends = np.stack([batch @ self._probe, previous @ self._probe], axis=1)
        steps = repeated_steps(moves, ends, self._templates, self._template_ends) & ~dups
        keep = np.isfinite(moves).all(axis=1)
        if keep.any():
            self._templates = np.concatenate([self._templates, moves[keep]])[-_LOOKBACK:]
            self._template_ends = np.concatenate([self._template_ends, ends[keep]])[-_LOOKBACK:]
        dup_counts = self._dups.push(dups)
        step_counts = self._steps.push(steps)
        off_total = self.off_manifold + np.cumsum(off, dtype=np.int64)
        seen = before + np.arange(1, k + 1)
        self.queries += k
        self.off_manifold = int(off_total[-1])
        self._hist = np.concatenate([self._hist, batch.astype(np.float64)])[-self.window :]

        def fire(detector: str, index: int, stat: dict[str, Any]) -> None:
            path, line, when = where.at(index)
            self.detections[detector] = Detection(detector, before + index + 1, stat, path,
                                                  line, when)  # fmt: skip

        hit = dup_counts >= profile.dup_count
        if "probing" not in self.detections and hit.any():
            i = int(hit.argmax())
            radius = round(profile.dup_ratio * baseline.nn_radius, 6)
            stat = {"near_duplicates_in_window": int(dup_counts[i]), "window": self.window,
                    "radius": radius}  # fmt: skip
            fire("probing", i, stat)
        hit = step_counts >= profile.dup_count
        if "steps" not in self.detections and hit.any():
            i = int(hit.argmax())
            fire("steps", i, {"sign_steps_in_window": int(step_counts[i]), "window": self.window})
        hit = (seen >= profile.ood_min) & (off_total >= profile.ood_fraction * seen)
        if "coverage" not in self.detections and hit.any():
            i = int(hit.argmax())
            fire("coverage", i, {"off_manifold_share": round(float(off_total[i] / seen[i]), 4),
                                 "threshold": profile.ood_fraction})  # fmt: skip
        # PRADA: tested at the client's queries _SEGMENT, 2 * _SEGMENT, ... (when enough new
        # distances have come since the last test), whatever the batches
        cuts = np.flatnonzero(seen % _SEGMENT == 0) + 1
        start = 0
        for stop in [*cuts.tolist(), k]:
            if stop <= start:
                continue
            self._prada.add_batch(batch[start:stop], labels[start:stop], repeat)
            at_test = (before + stop) % _SEGMENT == 0
            start = stop
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
