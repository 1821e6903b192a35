"""Type stub of the columnar reader's compiled loops (``_kread.c``)."""

from collections.abc import Callable
from typing import Any

ABI: int

def numbers(texts: list[str], /) -> tuple[bytes, bytes] | None:
    """Every text's comma-separated JSON numbers as float64 (bytes), and each text's count
    (int64 bytes); None when any text is not such a row (see ``_kread.c``)."""

def fields(
    lines: list[bytes],
    loads: Callable[[bytes], Any],
    field: str,
    sep: str | None,
    classifier: bool,
    times: dict[str, float],
    parse_time: Callable[[str], float | None],
    /,
) -> tuple[list[str], list[str], list[str], list[float]] | None:
    """The common case of ``FastReader._fields``: each line's client, input body, output body
    and time; None when a line is not of it (the Python loop then reads the block)."""

def capture(
    block: bytes | bytearray | memoryview,
    field: str,
    sep: str | None,
    classifier: bool,
    times: dict[str, float],
    parse_time: Callable[[str], float | None],
    loads: Callable[[bytes], Any],
    /,
) -> tuple[list[str], bytearray, int, bytearray, bytearray] | None:
    """A block of Data Capture lines in columns, in one pass over its bytes: the clients, the
    input rows (float32, ``width`` each), the labels (int64, -1 for none) and the times
    (float64, NaN for none); None when the block is not of the common case (FastReader's
    Python path then reads it; see ``_kread_capture.h``)."""

def simd(flag: int, /) -> tuple[int, int]:
    """Scan strings 16 bytes at a time (1, SSE2) or byte by byte (0); returns the setting it
    replaces and the best this build has."""
