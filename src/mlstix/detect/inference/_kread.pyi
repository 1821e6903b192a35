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
