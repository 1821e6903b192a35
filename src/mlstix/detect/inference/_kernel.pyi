"""Type stub of the compiled kernels (``_kernel.c``); arrays are C-contiguous and native."""

from typing import Any

ABI: int

def nearest(pool: Any, start: int, window: int, index: Any, distance: Any, /) -> None:
    """For rows ``start:`` of ``pool`` (float32, 2-D): their nearest among the ``window``
    rows before each, into ``index`` (int64, -1 where none) and ``distance`` (float64)."""
