"""Type stub of the columnar reader's compiled loop (``_kread.c``)."""

ABI: int

def numbers(texts: list[str], /) -> tuple[bytes, bytes] | None:
    """Every text's comma-separated JSON numbers as float64 (bytes), and each text's count
    (int64 bytes); None when any text is not such a row (see ``_kread.c``)."""
