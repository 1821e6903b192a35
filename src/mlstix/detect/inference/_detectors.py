"""Per-client detectors over a stream of queries, each with bounded state.

Three detectors run side by side on every client's queries, in the endpoint's *feature space*
(features scaled by the endpoint's own spread, see :class:`Baseline`):

**Extraction, PRADA** (Juuti, Szyller, Marchal, Asokan: "PRADA: Protecting against DNN Model
Stealing Attacks", EuroS&P 2019). For each client and predicted class a *growing set* of
queries is kept; each new query's minimum distance ``d`` to its class's growing set joins the
client's distance set ``D``; the query joins the growing set when ``d`` exceeds the class
threshold, which rises to ``mean - std`` of the growing set's distances. Natural queries give
a ``D`` close to a normal distribution; synthetic extraction queries (Jacobian-based
augmentation, perturbations of seeds, line searches) do not. The Shapiro–Wilk statistic ``W``
of ``D`` below ``delta`` flags the client.

**Extraction, input-space coverage**: the share of a client's queries that lie outside the
endpoint's natural input distribution (farther from every baseline query of *other* clients
than all but a small quantile of baseline queries are from each other). Random-query
extraction (Tramèr et al., USENIX Security 2016) sweeps the whole input box; honest clients
stay on the data's manifold. The client's volume against the endpoint's median is evidence.

**Adversarial probing, stateful near-duplicate detection** (Chen, Carlini, Wagner: "Stateful
Detection of Black-Box Adversarial Attacks", 2020; Li et al.: "Blacklight", USENIX Security
2022). Query-based attacks (boundary attack, HopSkipJump, score-based estimators) send many
queries within a tiny distance of each other; natural traffic does not. Each client keeps the
last ``window`` queries; a query whose nearest earlier query is closer than a small fraction
of the endpoint's natural nearest-neighbour distance is a near-duplicate, and ``dup_count``
near-duplicates within the window flag the client.

Memory per client is bounded by the window, the growing-set cap and the distance-set length;
the engine bounds the number of clients it keeps.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._stats import shapiro_w

__all__ = ["PROFILES", "Baseline", "ClientState", "Detection", "Profile"]

Matrix = npt.NDArray[np.float32]

_REPEAT = 1e-3  # a distance below this share of the natural NN distance is a repeated query


@dataclass(frozen=True)
class Profile:
    """Detector thresholds. ``balanced`` is the default; ``strict`` flags earlier and accepts
    more false positives."""

    name: str
    prada_delta: float  # Shapiro–Wilk W below this flags extraction (the most it may be)
    prada_margin: float  # calibrated delta = lowest W of virtual honest clients - margin
    prada_min: int  # distances in D before the first test
    prada_every: int  # test every N new distances
    dup_ratio: float  # near-duplicate radius, as a fraction of the natural NN distance
    dup_count: int  # near-duplicates within the window that flag probing
    ood_fence: float  # interquartile ranges above the third quartile of natural NN distances
    ood_fraction: float  # share of off-manifold queries that flags extraction
    ood_min: int  # queries before the coverage test


PROFILES = {
    "balanced": Profile("balanced", 0.90, 0.05, 100, 10, 0.10, 8, 3.0, 0.25, 30),
    "strict": Profile("strict", 0.94, 0.0, 50, 5, 0.15, 5, 2.0, 0.15, 20),
}


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


@dataclass
class Baseline:
    """The endpoint's natural traffic, learned from the first queries of the log (each client's
    share capped so one busy client cannot define "normal")."""

    center: Matrix
    scale: Matrix
    points: Matrix  # scaled
    owners: npt.NDArray[np.int64]  # client index of each point
    nn_radius: float  # median distance from a baseline query to the nearest other client's
    ood_radius: float  # far-out fence of the same distances
    prada_delta: float = 0.9  # PRADA's threshold, calibrated for this endpoint
    step_unit: Matrix = field(default_factory=lambda: np.zeros(0, np.float32))
    # scaled units -> share of the feature's range (NaN for constant features)

    @classmethod
    def learn(
        cls,
        vectors: Matrix,
        owners: npt.NDArray[np.int64],
        labels: npt.NDArray[np.int64],
        kind: str,
        profile: Profile,
        window: int,
        spread_from: Matrix | None = None,
    ) -> Baseline:
        """Learn from ``vectors`` (each client's share capped by the caller); feature spreads
        come from ``spread_from`` (all warm-up queries) when given."""
        sample = vectors if spread_from is None else spread_from
        if kind == "numeric":
            # robust spread per feature: the MAD, but never below a sixth of the central 98 %
            # range nor a tenth of the whole range, so a feature that is nearly always 0 (an
            # edge pixel, a rare flag) does not get a tiny scale that lets its rare non-zero
            # values swamp every distance
            center = np.median(sample, axis=0).astype(np.float32)
            mad = np.median(np.abs(sample - center), axis=0) * 1.4826
            low, high = np.quantile(sample, [0.01, 0.99], axis=0)
            whole = sample.max(axis=0) - sample.min(axis=0)
            spread = np.maximum(np.maximum(mad, (high - low) / 6.0), whole / 10.0)
            # a feature that never varied in the warm-up takes a typical feature's scale
            typical = float(np.median(spread[spread > 0])) if np.any(spread > 0) else 1.0
            scale = np.where(spread > 0, spread, typical).astype(np.float32)
        else:  # pixels and trigram histograms are already commensurate
            center = np.zeros(vectors.shape[1], dtype=np.float32)
            scale = np.ones(vectors.shape[1], dtype=np.float32)
        points = ((vectors - center) / scale).astype(np.float32)
        # the same input sent by several clients (a health check, a popular example) says
        # nothing about how far apart natural inputs are: keep one of each
        _, first = np.unique(points, axis=0, return_index=True)
        first.sort()
        points, owners, labels = points[first], owners[first], labels[first]
        nn = _cross_client_nn(points, owners)
        finite = nn[np.isfinite(nn)]
        if finite.size == 0:  # one client only: leave-one-out within it
            d = sq_dists(points, points)
            np.fill_diagonal(d, np.inf)
            finite = np.sqrt(d.min(axis=1))
            finite = finite[np.isfinite(finite)]
        positive = finite[finite > 0]
        radius = float(np.median(positive)) if positive.size else 1.0
        if finite.size:
            # a far-out fence on the quartiles: robust to the up-to-a-quarter of baseline
            # queries that attackers may have sent during the warm-up, unlike a high quantile
            q1, q3 = np.quantile(finite, [0.25, 0.75])
            ood = float(q3 + profile.ood_fence * (q3 - q1))
        else:
            ood = math.inf
        ood = max(ood, radius)
        delta = calibrate_prada(
            points,
            labels,
            profile,
            max(4 * window, 2 * profile.prada_min),
            _REPEAT * radius,
        )
        whole_range = sample.max(axis=0) - sample.min(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            unit = np.where(whole_range > 0, scale / whole_range, np.nan).astype(np.float32)
        return cls(center, scale, points, owners, radius, ood, delta, unit)

    def transform(self, vectors: Matrix) -> Matrix:
        return ((vectors - self.center) / self.scale).astype(np.float32)

    def off_manifold(self, scaled: Matrix, owners: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which rows are farther from every other client's baseline query than ``ood_radius``."""
        d = sq_dists(scaled, self.points)
        d[owners[:, None] == self.owners[None, :]] = np.inf
        far: npt.NDArray[np.bool_] = np.sqrt(d.min(axis=1)) > self.ood_radius
        return far


def _cross_client_nn(points: Matrix, owners: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    out = np.empty(len(points), dtype=np.float64)
    for start in range(0, len(points), 512):
        block = sq_dists(points[start : start + 512], points)
        block[owners[start : start + 512, None] == owners[None, :]] = np.inf
        out[start : start + 512] = np.sqrt(block.min(axis=1))
    return out


@dataclass(frozen=True)
class Detection:
    """Where a detector first fired for a client."""

    detector: str
    query: int  # 1-based index of the client's query that fired it
    statistic: dict[str, Any]
    path: str
    line: int
    time: float | None


class _Growing:
    """One PRADA growing set (per client and class), capped."""

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

    def add(self, x: Matrix, label: int, repeat: float) -> None:
        grow = self._growing.get(label)
        if grow is None:
            if len(self._growing) >= 256:  # bounded: classes past 256 share one set
                label = -2
                grow = self._growing.get(label)
            if grow is None:
                grow = self._growing[label] = _Growing(self.dim)
        if grow.count == 0:
            grow.add(x, self.cap)
            return
        diff = grow.points[: grow.count] - x
        d = math.sqrt(float(np.einsum("ij,ij->i", diff, diff).min()))
        if d <= repeat:
            return  # a repeated query adds nothing to the distance distribution
        self.distances.append(d)
        self.since_test += 1
        if d > grow.threshold:
            grow.add(x, self.cap)
            grow.dg_n += 1
            grow.dg_sum += d
            grow.dg_sq += d * d
            mean = grow.dg_sum / grow.dg_n
            std = math.sqrt(max(0.0, grow.dg_sq / grow.dg_n - mean * mean))
            grow.threshold = max(grow.threshold, mean - std)

    def due(self, minimum: int, every: int) -> bool:
        return len(self.distances) >= minimum and self.since_test >= every

    def w(self) -> float | None:
        self.since_test = 0
        return shapiro_w(np.fromiter(self.distances, np.float64, len(self.distances)))


def sign_steps(batch: Matrix, previous: Matrix, unit: Matrix) -> npt.NDArray[np.bool_]:
    """Which rows of ``batch`` differ from their nearest earlier query by the same share of
    each feature's range on most features that changed: the signature of synthetic queries
    made by signed steps ``x +/- lambda`` (Jacobian-based augmentation, Papernot et al. 2017;
    PRADA's T-RND random-sign variant; iterative FGSM probing). Natural neighbours differ by
    unequal amounts."""
    if len(batch) == 0 or unit.size == 0:
        return np.zeros(len(batch), dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        share = np.abs(batch - previous) * unit
        changed = share > 1e-4
        enough = changed.sum(axis=1) >= max(3, unit.size // 2)
        masked = np.where(changed, share, np.nan)
        median = np.nanmedian(np.where(enough[:, None], masked, 1.0), axis=1)
        close = np.abs(masked - median[:, None]) <= 0.05 * median[:, None]
        agree = close.sum(axis=1) >= 0.7 * changed.sum(axis=1)
    out: npt.NDArray[np.bool_] = enough & agree & np.isfinite(median)
    return out


def calibrate_prada(
    points: Matrix,
    labels: npt.NDArray[np.int64],
    profile: Profile,
    maxlen: int,
    repeat: float,
    runs: int = 60,
    length: int = 300,
) -> float:
    """PRADA's ``delta`` for this endpoint: the lowest W that *virtual honest clients* reach,
    each a random draw of natural baseline queries judged exactly as a client is (tested every
    ``prada_every`` distances from ``prada_min`` on), less a margin; never above the profile's
    ``prada_delta``. PRADA's authors set ``delta`` per model from benign traffic; this does the
    same from the endpoint's own traffic, so an endpoint whose natural distance distribution is
    far from normal (heavy-tailed tabular features) does not flag its honest clients."""
    rng = np.random.default_rng(0x5EED)
    n = len(points)
    if n < profile.prada_min + 2:
        return profile.prada_delta
    lowest = 1.0
    for _ in range(runs):
        size = int(rng.integers(profile.prada_min + profile.prada_every, length + 1))
        order = rng.permutation(n)[: min(size, n)]
        state = Prada(points.shape[1], maxlen)
        for index in order:
            state.add(points[index], int(labels[index]), repeat)
            if state.due(profile.prada_min, profile.prada_every):
                w = state.w()
                if w is not None:
                    lowest = min(lowest, w)
    return min(profile.prada_delta, lowest - profile.prada_margin)


@dataclass
class ClientState:
    """Everything kept about one client."""

    dim: int
    window: int
    profile: Profile
    growing_cap: int = 512
    queries: int = 0
    off_manifold: int = 0
    first_time: float | None = None
    last_time: float | None = None
    labels: set[int] = field(default_factory=set)
    detections: dict[str, Detection] = field(default_factory=dict)
    _hist: Matrix = field(init=False, repr=False)
    _hist_n: int = field(default=0, init=False, repr=False)
    _hist_pos: int = field(default=0, init=False, repr=False)
    _dups: deque[bool] = field(init=False, repr=False)
    _dup_count: int = field(default=0, init=False, repr=False)
    _steps: deque[bool] = field(init=False, repr=False)
    _step_count: int = field(default=0, init=False, repr=False)
    sign_steps: int = 0
    _prada: Prada = field(init=False, repr=False)
    last_w: float | None = None
    near_duplicates: int = 0

    def __post_init__(self) -> None:
        self._hist = np.empty((min(8, self.window), self.dim), dtype=np.float32)
        self._dups = deque(maxlen=self.window)
        self._steps = deque(maxlen=self.window)
        self._prada = Prada(self.dim, max(4 * self.window, 2 * self.profile.prada_min))

    # -- near-duplicates ---------------------------------------------------------------------

    def _history(self) -> Matrix:
        return self._hist[: self._hist_n]

    def _remember(self, x: Matrix) -> None:
        if self._hist_n < len(self._hist):
            self._hist[self._hist_n] = x
            self._hist_n += 1
            return
        if len(self._hist) < self.window:
            grown = np.empty((min(self.window, 2 * len(self._hist)), self.dim), np.float32)
            grown[: self._hist_n] = self._hist
            self._hist = grown
            self._hist[self._hist_n] = x
            self._hist_n += 1
            return
        self._hist[self._hist_pos] = x
        self._hist_pos = (self._hist_pos + 1) % self.window

    def nearest_previous(self, batch: Matrix) -> tuple[npt.NDArray[np.float64], Matrix]:
        """For each row of ``batch``: the distance to the nearest earlier query of this client
        (its remembered window and the rows before it in ``batch``), and that query (a row of
        NaN where there is none)."""
        k = len(batch)
        candidates = np.concatenate([self._history(), batch]) if self._hist_n else batch
        d = sq_dists(batch, candidates)
        offset = len(candidates) - k
        d[:, offset:][np.triu_indices(k)] = np.inf
        best = d.argmin(axis=1)
        nearest = np.sqrt(d[np.arange(k), best])
        previous = candidates[best].copy()
        previous[~np.isfinite(nearest)] = np.nan
        return nearest, previous

    # -- the update --------------------------------------------------------------------------

    def update(
        self,
        batch: Matrix,
        labels: list[int | None],
        off: npt.NDArray[np.bool_],
        where: list[tuple[str, int, float | None]],
        baseline: Baseline,
    ) -> None:
        """Judge ``batch`` (this client's next queries, in order) and remember them."""
        profile = self.profile
        nearest, previous = self.nearest_previous(batch)
        steps = sign_steps(batch, previous, baseline.step_unit)
        dup_radius = profile.dup_ratio * baseline.nn_radius
        repeat = _REPEAT * baseline.nn_radius
        for i in range(len(batch)):
            self.queries += 1
            path, line, when = where[i]
            if when is not None:
                self.first_time = when if self.first_time is None else min(self.first_time, when)
                self.last_time = when if self.last_time is None else max(self.last_time, when)
            label = labels[i]
            if label is not None and len(self.labels) < 1000:
                self.labels.add(label)
            # an exact repeat (a health check, a retry) tells an attacker nothing: not a probe
            is_dup = bool(repeat < nearest[i] < dup_radius)
            if len(self._dups) == self._dups.maxlen and self._dups[0]:
                self._dup_count -= 1
            self._dups.append(is_dup)
            self._dup_count += is_dup
            self.near_duplicates += is_dup
            if bool(off[i]):
                self.off_manifold += 1
            is_step = bool(steps[i]) and not is_dup
            if len(self._steps) == self._steps.maxlen and self._steps[0]:
                self._step_count -= 1
            self._steps.append(is_step)
            self._step_count += is_step
            self.sign_steps += is_step
            self._prada.add(batch[i], -1 if label is None else label, repeat)
            self._remember(batch[i])
            self._judge(path, line, when, baseline)

    def _judge(self, path: str, line: int, when: float | None, baseline: Baseline) -> None:
        profile = self.profile
        n = self.queries
        if "steps" not in self.detections and self._step_count >= profile.dup_count:
            self.detections["steps"] = Detection(
                "steps",
                n,
                {"sign_steps_in_window": self._step_count, "window": self.window},
                path,
                line,
                when,
            )
        if "probing" not in self.detections and self._dup_count >= profile.dup_count:
            self.detections["probing"] = Detection(
                "probing",
                n,
                {
                    "near_duplicates_in_window": self._dup_count,
                    "window": self.window,
                    "radius": round(profile.dup_ratio * baseline.nn_radius, 6),
                },
                path,
                line,
                when,
            )
        if "prada" not in self.detections and self._prada.due(
            profile.prada_min, profile.prada_every
        ):
            w = self._prada.w()
            self.last_w = w
            if w is not None and w < baseline.prada_delta:
                self.detections["prada"] = Detection(
                    "prada",
                    n,
                    {
                        "shapiro_wilk_w": round(w, 4),
                        "delta": round(baseline.prada_delta, 4),
                        "distances": len(self._prada.distances),
                    },
                    path,
                    line,
                    when,
                )
        if (
            "coverage" not in self.detections
            and n >= profile.ood_min
            and self.off_manifold >= profile.ood_fraction * n
        ):
            self.detections["coverage"] = Detection(
                "coverage",
                n,
                {
                    "off_manifold_share": round(self.off_manifold / n, 4),
                    "threshold": profile.ood_fraction,
                },
                path,
                line,
                when,
            )
