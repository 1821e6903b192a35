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

class DSet:
    """One client's PRADA distance set: its last ``maxlen`` distances, kept sorted too."""

    def __init__(self, maxlen: int) -> None: ...
    def __len__(self) -> int: ...
    def take(self, values: Any, classes: Any, repeat: float, open: bool, /) -> int:
        """One piece's distances (float64) and classes (int64), in the batch's order: the
        finite ones above ``repeat``, class by class after the waiting piece's, wait (``open``)
        or join D; returns how many joined."""
    def w(self, coefficients: Any, /) -> float:
        """PRADA's W of D (at least 3 values) given its n coefficients: the Shapiro-Wilk W with
        its few most extreme values past the far-out fence clamped to it (``_stats.prada_w``)."""
    def values(self) -> bytes:
        """D's values, oldest first (float64 bytes)."""

def shapiro_w(values: Any, coefficients: Any, /) -> float:
    """W of ``values`` (float64, n >= 3, sorted ascending, no NaN) given their Royston
    coefficients."""
