"""The endpoint's natural traffic, learned from the first queries of the log.

Every distance the detectors take is in the endpoint's *feature space*: each numeric feature
centred on its median and divided by a robust spread, so a feature measured in thousands does
not drown one measured in fractions. Pixels and trigram histograms are compared as they are.
The baseline also fixes the yardsticks the detectors use: how far apart natural queries of
*different* clients lie (the near-duplicate radius is a small share of that), where the
natural input distribution ends (the off-manifold fence), and PRADA's threshold for this
endpoint. Each client's share of the baseline is capped by the caller, and the statistics are
quartile-based, so attackers present during the warm-up cannot define "normal".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._accel import load
from mlstix.detect.inference._order import median, quantiles
from mlstix.detect.inference._prada import PradaProfile, calibrate_prada, sq_dists

__all__ = ["REPEAT", "Baseline"]

Matrix = npt.NDArray[np.float32]

REPEAT = 1e-3  # a distance below this share of the natural NN distance is a repeated query
_REFERENCE = 256  # baseline queries the off-manifold test measures against
_CHUNK = 4096  # rows transformed and tested off-manifold at a time
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _quiet(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Values near float32's limits overflow to inf when centred and scaled (and inf - inf is
    NaN): the detectors take such rows as they are, so NumPy's warnings about them would only
    be noise to a user. (A fresh ``np.errstate`` per call: one instance cannot be entered
    twice.)"""

    @functools.wraps(function)
    def quiet(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with np.errstate(over="ignore", invalid="ignore"):
            return function(*args, **kwargs)

    return quiet


class BaselineProfile(PradaProfile, Protocol):
    @property
    def ood_fence(self) -> float: ...


def _spread(sample: Matrix) -> tuple[Matrix, Matrix, Matrix]:
    """Centre and two scales per feature. The fine scale: the MAD, but never below a sixth of
    the central 98 % range nor a tenth of the whole range; a feature that never varied takes
    a typical feature's scale. The scale: the same, except that a feature holding one value in
    more than half the sample (MAD 0: an edge pixel, a rare flag, a count nearly always 0) is
    never below the typical scale of the features that do vary. Its range in the warm-up says
    little about the values it takes (a pixel 0 or 1 in 2,000 warm-up queries and 8 in the
    next one), and at the fine scale its rare values swamp every distance between natural
    queries (PRADA, the nearest-query tests). The off-manifold test keeps the fine scale: a
    value such a feature never took is what lies off the manifold."""
    center = median(sample, axis=0).astype(np.float32)
    mad = median(np.abs(sample - center), axis=0) * 1.4826
    low, high = quantiles(sample, [0.01, 0.99])
    whole = sample.max(axis=0) - sample.min(axis=0)
    spread = np.maximum(np.maximum(mad, (high - low) / 6.0), whole / 10.0)
    typical = float(median(spread[spread > 0])) if np.any(spread > 0) else 1.0
    fine = np.where(spread > 0, spread, typical).astype(np.float32)
    varied = mad > 0
    basis = spread[varied] if np.any(varied) else spread[spread > 0]
    usual = float(median(basis)) if basis.size else 1.0
    return center, np.where(varied, spread, np.maximum(spread, usual)).astype(np.float32), fine


def _nearest_other(
    points: Matrix, owners: npt.NDArray[np.int64], ref: Matrix, ref_owners: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Distance from each point to the nearest ``ref`` point of another client (inf if none)."""
    out = np.empty(len(points), dtype=np.float64)
    for start in range(0, len(points), 512):
        block = sq_dists(points[start : start + 512], ref)
        block[owners[start : start + 512, None] == ref_owners[None, :]] = np.inf
        out[start : start + 512] = np.sqrt(block.min(axis=1))
    return out


def _exact(a: Matrix, b: Matrix) -> npt.NDArray[np.float64]:
    """Row by row, the float64 sum of squared differences taken feature by feature in order
    (``cumsum`` adds in order, as the kernel does)."""
    if not a.shape[1]:
        return np.zeros(len(a))
    diff = a.astype(np.float64) - b
    square: npt.NDArray[np.float64] = np.cumsum(diff * diff, axis=1)[:, -1]
    return square


def _owner_codes(
    owners: npt.NDArray[np.int64], reference_owners: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.integer[Any]], npt.NDArray[np.integer[Any]]]:
    """The owners as small codes (the same equalities, a quarter of the bytes to compare): a
    reference owner's rank among the distinct reference owners (at most 256 of them), -1 for
    an owner with no reference query."""
    distinct = np.unique(reference_owners)
    if len(distinct) >= 2**15:  # (not from learn: as they are)
        return owners, reference_owners
    theirs = np.searchsorted(distinct, reference_owners).astype(np.int16)
    at = np.minimum(np.searchsorted(distinct, owners), max(len(distinct) - 1, 0))
    found = distinct[at] == owners if len(distinct) else np.zeros(len(owners), np.bool_)
    mine = np.where(found, at, -1).astype(np.int16)
    return mine, theirs


@dataclass
class Baseline:
    center: Matrix
    scale: Matrix
    reference: Matrix  # scaled baseline queries the off-manifold test measures against
    reference_owners: npt.NDArray[np.int64]
    nn_radius: float  # median distance from a baseline query to the nearest other client's
    ood_radius: float  # far-out fence of the distances to the reference
    prada_delta: float  # PRADA's threshold, calibrated for this endpoint
    step_unit: Matrix  # scaled units -> share of the feature's range (NaN: constant feature)
    steps_count: int = 0  # repeated steps in a window that flag a client (0: the profile's)
    sharpen: Matrix | None = None  # scaled -> the off-manifold test's fine scale (None: same)

    @classmethod
    @_quiet
    def learn(
        cls,
        vectors: Matrix,
        owners: npt.NDArray[np.int64],
        labels: npt.NDArray[np.int64],
        kind: str,
        profile: BaselineProfile,
        maxlen: int,
        spread_from: Matrix | None = None,
    ) -> Baseline:
        """Learn from ``vectors`` (each client's share already capped); feature spreads come
        from ``spread_from`` (all warm-up queries) when given."""
        sample = vectors if spread_from is None else spread_from
        sharpen = None
        if kind == "numeric":
            center, scale, fine = _spread(sample)
            if np.any(scale != fine):
                sharpen = (scale / fine).astype(np.float32)
        else:  # pixels and trigram histograms are already commensurate
            center = np.zeros(vectors.shape[1], dtype=np.float32)
            scale = np.ones(vectors.shape[1], dtype=np.float32)
        points = ((vectors - center) / scale).astype(np.float32)
        # the same input sent by several clients (a health check, a popular example) says
        # nothing about how far apart natural inputs are: keep one of each
        _, first = np.unique(points, axis=0, return_index=True)
        first.sort()
        points, owners, labels = points[first], owners[first], labels[first]
        nn = _nearest_other(points, owners, points, owners)
        finite = nn[np.isfinite(nn)]
        if finite.size == 0:  # one client only: leave-one-out within it
            d = sq_dists(points, points)
            np.fill_diagonal(d, np.inf)
            finite = np.sqrt(d.min(axis=1))
            finite = finite[np.isfinite(finite)]
        positive = finite[finite > 0]
        radius = float(median(positive)) if positive.size else 1.0
        rng = np.random.default_rng(0xBA5E)
        pick = np.sort(rng.permutation(len(points))[:_REFERENCE])
        sharp = points if sharpen is None else points * sharpen  # the off-manifold test's
        reference, ref_owners = sharp[pick], owners[pick]
        to_ref = _nearest_other(sharp, owners, reference, ref_owners)
        to_ref = to_ref[np.isfinite(to_ref)]
        if to_ref.size == 0:
            ref_owners = np.full(len(pick), -2, dtype=np.int64)  # one client: no exclusion
            to_ref = radius * np.ones(1)
        # a far-out fence on the quartiles: robust to the up-to-a-quarter of baseline queries
        # that attackers may have sent during the warm-up, unlike a high quantile
        q1, q3 = quantiles(to_ref, [0.25, 0.75])
        ood = max(float(q3 + profile.ood_fence * (q3 - q1)), radius)
        delta = calibrate_prada(points, labels, profile, maxlen, REPEAT * radius)
        whole = sample.max(axis=0) - sample.min(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            unit = np.where(whole > 0, scale / whole, np.nan).astype(np.float32)
        return cls(center, scale, reference, ref_owners, radius, ood, delta, unit, 0, sharpen)

    @_quiet
    def transform(self, vectors: Matrix) -> Matrix:
        """``vectors`` centred and scaled (float32), ``_CHUNK`` rows at a time (see
        :meth:`off_manifold`)."""
        out: Matrix = np.empty(vectors.shape, dtype=np.float32)
        if vectors.dtype == self.center.dtype == self.scale.dtype == np.float32:
            # float32 arithmetic throughout (as below): straight into ``out``, no temporaries
            np.subtract(vectors, self.center, out=out)
            np.divide(out, self.scale, out=out)
            return out
        for start in range(0, len(vectors), _CHUNK):
            part = vectors[start : start + _CHUNK]
            out[start : start + len(part)] = ((part - self.center) / self.scale).astype(np.float32)
        return out

    @_quiet
    def off_manifold(self, scaled: Matrix, owners: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which rows (``scaled`` by :meth:`transform`; measured at the fine scale, see
        :func:`_spread`) are farther than ``ood_radius`` from every reference query of another
        client: ``S > ood_radius**2`` for each, ``S`` the float64 sum of squared differences
        taken feature by feature in order (a NaN ``S`` is not beyond the fence: a row with a
        NaN is on the manifold, one with an infinity beyond every finite reference). The
        compiled kernel
        (``_kernel.off``) stops at the first reference within the fence and leaves a
        reference once its partial sum has passed it; the NumPy path takes the nearest by one
        float32 product per ``_CHUNK`` rows and sums exactly every pair of a row whose nearest
        is within a proven rounding bound of the fence. They give the same verdicts (tests
        compare them)."""
        if self.sharpen is not None:  # to the fine scale (see _spread)
            scaled = scaled * self.sharpen
        far: npt.NDArray[np.bool_] = np.empty(len(scaled), dtype=np.bool_)
        limit = float(self.ood_radius) ** 2
        kernel = load("_kernel")
        if kernel is not None:
            kernel.off(np.ascontiguousarray(scaled, dtype=np.float32),
                       np.ascontiguousarray(owners, dtype=np.int64),
                       np.ascontiguousarray(self.reference, dtype=np.float32),
                       np.ascontiguousarray(self.reference_owners, dtype=np.int64), limit,
                       far)  # fmt: skip
            return far
        ref = self.reference
        half = 0.5 * np.einsum("ij,ij->i", ref, ref)[None, :]
        widest = float(np.sqrt(2.0 * half.max(initial=0.0)))
        mine, theirs = _owner_codes(owners, self.reference_owners)
        # the float32 score |x|^2 + |r|^2 - 2 x.r, summed in any order, is within
        # 2 (d + 2) u (|x| + |r|)^2 of the exact in-order float64 sum (u = 2^-24; Higham,
        # Accuracy and Stability of Numerical Algorithms, 2nd ed., 3.1: each is within
        # (d + 2) u of the real one); twice that, and d 2^-140 below float32's normal range
        slack = 8.0 * (ref.shape[1] + 4) * 2.0**-24
        tiny = (ref.shape[1] + 4) * 2.0**-140
        for start in range(0, len(scaled), _CHUNK):
            part = scaled[start : start + _CHUNK]
            # |x - r|^2 = |x|^2 + 2 (|r|^2 / 2 - x.r): the minimum over r needs one product
            score = part @ ref.T
            np.subtract(half, score, out=score)
            codes = mine[start : start + _CHUNK]
            if codes.max(initial=-1) >= 0:  # rows of clients with reference queries
                np.putmask(score, codes[:, None] == theirs[None, :], np.inf)
            norms = np.einsum("ij,ij->i", part, part).astype(np.float64)
            nearest = norms + 2.0 * score.min(axis=1, initial=np.inf)
            reach = np.sqrt(norms) + widest
            bound = slack * reach * reach + tiny
            near = nearest + bound <= limit  # surely within the fence
            far_part = nearest - bound > limit  # surely beyond it (NaN, inf: neither)
            unsure = np.flatnonzero(~near & ~far_part)
            if unsure.size:  # each pair of those rows not surely beyond is measured exactly
                each = norms[unsure, None] + 2.0 * score[unsure]
                maybe = ~(each - bound[unsure, None] > limit)
                maybe &= codes[unsure, None] != theirs[None, :]
                rows, cols = np.nonzero(maybe)
                square = _exact(part[unsure[rows]], ref[cols])
                far_part[unsure] = True
                far_part[unsure[rows[~(square > limit)]]] = False
            far[start : start + len(part)] = far_part
        return far

    @property
    def yardsticks(self) -> dict[str, float]:
        return {
            "natural_nn_distance": round(self.nn_radius, 6),
            "off_manifold_radius": round(self.ood_radius, 6),
            "prada_delta": round(self.prada_delta, 4),
        }
