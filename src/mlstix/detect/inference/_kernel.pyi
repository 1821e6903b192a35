"""Type stub of the compiled kernels (``_kernel.c``); arrays are C-contiguous and native."""

from typing import Any

ABI: int

def nearest(pool: Any, start: int, window: int, index: Any, distance: Any, /) -> None:
    """For rows ``start:`` of ``pool`` (float32, 2-D): their nearest among the ``window``
    rows before each, into ``index`` (int64, -1 where none) and ``distance`` (float64)."""

def steps(
    pool: Any, ends: Any, lengths: Any, first: int, minimum: int, lookback: int, out: Any, /
) -> None:
    """Which rows ``first:`` of ``pool`` (float32 steps) repeat one of the ``lookback`` rows
    before each, into ``out`` (bool); ``ends`` (float64, n x 2), ``lengths`` (float32)."""

def steps_from(
    queries: Any,
    start: int,
    index: Any,
    probe: Any,
    steps: Any,
    ends: Any,
    lengths: Any,
    minimum: int,
    lookback: int,
    hit: Any,
    keep_steps: Any,
    keep_ends: Any,
    keep_lengths: Any,
    /,
) -> int:
    """The steps of queries ``start:`` to their nearest (``index``) judged against the
    remembered ``steps``/``ends``/``lengths`` and each other, into ``hit``; the last
    ``lookback`` finite steps into ``keep_*``; returns how many were kept."""

def simd(cap: int, /) -> tuple[int, int]:
    """Use vector instructions up to ``cap``: 0 portable, 1 AVX, 2 AVX and FMA (where the
    processor has them); returns (cap before, best the processor has). For tests."""

def off(
    points: Any, owners: Any, reference: Any, reference_owners: Any, limit: float, out: Any, /
) -> None:
    """Into ``out`` (bool): whether each row of ``points`` (float32) is farther than ``limit``
    (a squared distance) from every row of ``reference`` (float32) of another owner
    (``owners``, ``reference_owners``: int64), by the exact float64 sum in order."""
