"""The repeated-steps detector calibrated per endpoint, as PRADA's delta is.

The steps detector assumes natural neighbours differ by amounts that do not repeat. Features
that come in coarse units break that: iris measurements in tenths of a centimetre, counts,
ratings. There, nearest neighbours often differ by the same steps, and honest clients reach
the profile's count of repeated steps in a window (on iris, 90 of 100 honest clients).

So the count that flags a client is learnt from the endpoint's own traffic. Virtual honest
clients, each a random draw of warm-up queries, are judged by the real client state. The count
that flags is then at least twice the most repeated steps any of them reached in a window, and
never below the profile's count. Where synthetic steps stand out, virtual clients reach one or
two and nothing changes (digits, breast cancer). Where natural steps repeat, the detector asks
for more than natural traffic gives, and the report says what it asked for.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._baseline import Baseline
from mlstix.detect.inference._detectors import ClientState, Profile, Where

__all__ = ["steps_needed"]

_RUNS = 8  # virtual clients
_FACTOR = 2  # the count that flags: at least this times the most any virtual client reached


def steps_needed(
    baseline: Baseline,
    vectors: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    profile: Profile,
    window: int,
) -> int:
    """The count of repeated steps in a window that flags a client at this endpoint:
    ``profile.dup_count``, or more where virtual honest clients drawn from the warm-up queries
    (``vectors`` as logged, ``labels`` their predicted classes) reach half of it. Each virtual
    client sends ``2 * window`` queries drawn with replacement (a client of a small endpoint
    sends the same inputs again, as the real ones do); the draw is seeded, so a log gives the
    same count on every run."""
    count = len(vectors)
    if count == 0:
        return profile.dup_count
    scaled = np.ascontiguousarray(baseline.transform(np.ascontiguousarray(vectors)))
    rng = np.random.default_rng(0x57E9)
    size = 2 * window
    nowhere = Where([""], np.zeros(size, np.int64), np.zeros(size, np.int64),
                    np.full(size, np.nan))  # fmt: skip
    calm = np.zeros(size, dtype=np.bool_)
    peak = 0
    for _ in range(_RUNS):
        pick = rng.integers(0, count, size=size)
        state = ClientState(vectors.shape[1], window, profile)
        state.update(np.ascontiguousarray(scaled[pick]), labels[pick], calm, nowhere, baseline)
        peak = max(peak, state.steps_peak)
    return max(profile.dup_count, _FACTOR * peak)
