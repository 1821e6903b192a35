"""Type stub of PRADA's compiled kernel (``_kprada.c``); arrays are C-contiguous and native."""

from typing import Any

ABI: int

class Sets:
    """One client's PRADA growing sets: ``dim`` features, at most ``cap`` members a set."""

    def __init__(self, dim: int, cap: int) -> None: ...
    def add(self, rows: Any, slots: Any, repeat: float, out: Any, /) -> None:
        """Rows (float32 or float64, ``k x dim``) in order, each to its slot's set (``slots``:
        int64, ``k``); each row's distance to the set into ``out`` (float64, ``k``)."""
    def group(self, slot: int, /) -> tuple[int, float, float, float, float, bytes]:
        """(members, threshold, accepted, sum, squares, the members as float64 bytes)."""
    def groups(self) -> int: ...

def shapiro_w(values: Any, coefficients: Any, /) -> float:
    """W of ``values`` (float64, n >= 3, sorted ascending, no NaN) given their Royston
    coefficients."""
