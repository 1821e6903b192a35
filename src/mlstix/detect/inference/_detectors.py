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

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._baseline import REPEAT, Baseline
from mlstix.detect.inference._prada import Prada, sq_dists

__all__ = ["PROFILES", "ClientState", "Detection", "Profile", "repeated_steps"]

Matrix = npt.NDArray[np.float32]
_BATCH = 64  # PRADA is tested at most once per this many of a client's queries
_TEMPLATES = 64  # recent steps a new one is compared with


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


def repeated_steps(
    steps: Matrix,
    ends: npt.NDArray[np.float64],
    templates: Matrix,
    template_ends: npt.NDArray[np.float64],
) -> npt.NDArray[np.bool_]:
    """Which rows of ``steps`` (each query's absolute difference to its nearest earlier query,
    per feature; NaN where there is none) repeat an earlier step of the same client between
    other queries: within 5 % on at least 80 % of the features where both moved (at least a
    quarter of them). Synthetic augmentation moves every query by the same ``lambda`` per
    feature (only the signs differ), whatever scale the attacker chose; natural neighbours
    differ by amounts that do not repeat. ``ends`` are fingerprints of the two queries each
    step joins: the same two natural queries met again (a resubmission) are not a repeat."""
    k = len(steps)
    if k == 0:
        return np.zeros(0, dtype=np.bool_)
    pool = np.concatenate([templates, steps])  # earlier steps, then this batch's own
    pool_ends = np.concatenate([template_ends, ends])
    # only pairs of steps of about the same length can agree feature by feature (cheap test)
    lengths = np.sqrt(np.einsum("ij,ij->i", np.nan_to_num(pool), np.nan_to_num(pool)))
    mine = lengths[len(templates) :]
    with np.errstate(invalid="ignore"):
        near: npt.NDArray[np.bool_] = np.abs(mine[:, None] - lengths[None, :]) <= 0.2 * (
            np.maximum(mine[:, None], lengths[None, :])
        )
    mine_ok = np.asarray(np.isfinite(steps).all(axis=1), dtype=np.bool_)
    pool_ok = np.asarray(np.isfinite(pool).all(axis=1), dtype=np.bool_)
    whole = mine_ok[:, None] & pool_ok[None, :]
    near = np.logical_and(near, whole)
    near[:, len(templates) :][np.triu_indices(k)] = False  # only earlier steps count
    shared = (ends[:, None, :, None] == pool_ends[None, :, None, :]).any(axis=(2, 3))
    rows, cols = np.nonzero(near & ~shared)
    out = np.zeros(k, dtype=np.bool_)
    if rows.size == 0:
        return out
    a, b = steps[rows], pool[cols]
    # features pinned at a bound (a pixel already 0) cannot move: compare where both moved
    moved = (a > 1e-6) & (b > 1e-6)
    same = np.abs(a - b) <= 0.05 * np.maximum(a, b)
    movers = moved.sum(axis=1)
    match = ((same & moved).sum(axis=1) >= 0.8 * movers) & (movers >= max(3, steps.shape[1] // 4))
    out[rows[match]] = True
    return out


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
    _hist: Matrix = field(init=False, repr=False)
    _dups: _Window = field(init=False, repr=False)
    _steps: _Window = field(init=False, repr=False)
    _templates: Matrix = field(init=False, repr=False)
    _template_ends: npt.NDArray[np.float64] = field(init=False, repr=False)
    _probe: npt.NDArray[np.float64] = field(init=False, repr=False)
    _prada: Prada = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._hist = np.empty((0, self.dim), dtype=np.float32)
        self._dups = _Window(self.window)
        self._steps = _Window(self.window)
        self._templates = np.empty((0, self.dim), dtype=np.float32)
        self._template_ends = np.empty((0, 2), dtype=np.float64)
        self._probe = np.zeros(0)
        self._prada = Prada(self.dim, max(4 * self.window, 2 * self.profile.prada_min))

    @property
    def near_duplicates(self) -> int:
        return self._dups.total

    @property
    def sign_steps(self) -> int:
        return self._steps.total

    def _fingerprint(self, rows: Matrix) -> npt.NDArray[np.float64]:
        """A number per query that equal queries share (a fixed random projection)."""
        if len(self._probe) != self.dim:
            self._probe = np.random.default_rng(0xF1).normal(size=self.dim)
        out: npt.NDArray[np.float64] = rows.astype(np.float64) @ self._probe
        return out

    def nearest_previous(self, batch: Matrix) -> tuple[npt.NDArray[np.float64], Matrix]:
        """For each row of ``batch``: the distance to the nearest earlier query of this client
        (its remembered window and the rows before it in ``batch``), and that query (NaN where
        there is none)."""
        k = len(batch)
        candidates = np.concatenate([self._hist, batch])
        d = sq_dists(batch, candidates)
        offset = len(self._hist)
        d[:, offset:][np.triu_indices(k)] = np.inf
        best = d.argmin(axis=1)
        nearest = np.sqrt(d[np.arange(k), best])
        previous = candidates[best].copy()
        previous[~np.isfinite(nearest)] = np.nan
        return nearest, previous

    def update(
        self,
        batch: Matrix,
        labels: npt.NDArray[np.int64],
        off: npt.NDArray[np.bool_],
        where: list[tuple[str, int, float | None]],
        baseline: Baseline,
    ) -> None:
        """Judge ``batch`` (this client's next queries, in order) and remember them."""
        for start in range(0, len(batch), _BATCH):
            stop = start + _BATCH
            self._update(
                batch[start:stop], labels[start:stop], off[start:stop], where[start:stop], baseline
            )

    def _update(
        self,
        batch: Matrix,
        labels: npt.NDArray[np.int64],
        off: npt.NDArray[np.bool_],
        where: list[tuple[str, int, float | None]],
        baseline: Baseline,
    ) -> None:
        profile = self.profile
        before = self.queries
        k = len(batch)
        times = [w[2] for w in where if w[2] is not None]
        if times:
            low, high = min(times), max(times)
            self.first_time = low if self.first_time is None else min(self.first_time, low)
            self.last_time = high if self.last_time is None else max(self.last_time, high)
        nearest, previous = self.nearest_previous(batch)
        repeat = REPEAT * baseline.nn_radius
        # an exact repeat (a health check, a retry) tells an attacker nothing: not a probe
        dups = (nearest > repeat) & (nearest < profile.dup_ratio * baseline.nn_radius)
        moves = np.abs(batch - previous).astype(np.float32)
        ends = np.stack([self._fingerprint(batch), self._fingerprint(previous)], axis=1)
        steps = repeated_steps(moves, ends, self._templates, self._template_ends) & ~dups
        keep = np.isfinite(moves).all(axis=1)
        self._templates = np.concatenate([self._templates, moves[keep]])[-_TEMPLATES:]
        self._template_ends = np.concatenate([self._template_ends, ends[keep]])[-_TEMPLATES:]
        dup_counts = self._dups.push(dups)
        step_counts = self._steps.push(steps)
        off_total = self.off_manifold + np.cumsum(off, dtype=np.int64)
        seen = before + np.arange(1, k + 1)
        self.queries += k
        self.off_manifold = int(off_total[-1])
        self._hist = np.concatenate([self._hist, batch])[-self.window :]
        self._prada.add_batch(batch, labels, repeat)

        def fire(detector: str, hits: npt.NDArray[np.bool_], stat: dict[str, Any]) -> None:
            if detector in self.detections or not hits.any():
                return
            i = int(np.argmax(hits))
            path, line, when = where[i]
            self.detections[detector] = Detection(detector, before + i + 1, stat, path, line, when)

        hit = dup_counts >= profile.dup_count
        fire(
            "probing",
            hit,
            {
                "near_duplicates_in_window": int(dup_counts[hit.argmax()]),
                "window": self.window,
                "radius": round(profile.dup_ratio * baseline.nn_radius, 6),
            },
        )
        hit = step_counts >= profile.dup_count
        fire(
            "steps",
            hit,
            {"sign_steps_in_window": int(step_counts[hit.argmax()]), "window": self.window},
        )
        hit = (seen >= profile.ood_min) & (off_total >= profile.ood_fraction * seen)
        index = int(hit.argmax())
        fire(
            "coverage",
            hit,
            {
                "off_manifold_share": round(float(off_total[index] / seen[index]), 4),
                "threshold": profile.ood_fraction,
            },
        )
        if "prada" not in self.detections and self._prada.due(
            profile.prada_min, profile.prada_every
        ):
            w = self._prada.w()
            self.last_w = w
            if w is not None and w < baseline.prada_delta:
                stat = {
                    "shapiro_wilk_w": round(w, 4),
                    "delta": round(baseline.prada_delta, 4),
                    "distances": len(self._prada.distances),
                }
                fire("prada", np.arange(k) == k - 1, stat)
