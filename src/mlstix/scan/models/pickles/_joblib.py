"""joblib's NumPy arrays: raw bytes written into the pickle stream right after the BUILD of a
``NumpyArrayWrapper``, skipped using the shape and dtype the stream declares.

An array of ``dtype('O')`` is not raw bytes but a nested pickle, which is analysed instead.
When the wrapper's state names ``numpy_array_alignment_bytes``, one byte giving the padding
length and the padding come first.

Reference: joblib ``numpy_pickle.py`` (``NumpyArrayWrapper.write_array``/``read_array``) and
NumPy's array-interface type strings (``<f4``, ``|b1``, ``<U8``, ``|O``).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import Any

from mlstix.scan.models.pickles.opcodes import Call, Malformed, Reader

__all__ = ["dtype_size", "skip_joblib_array"]

_DESCR = re.compile(r"^[<>|=]?([a-zA-Z])(\d*)")


def skip_joblib_array(state: Any, r: Reader, pos: int, nested: Callable[[], None]) -> None:
    """joblib writes an array's bytes right after the wrapper's BUILD: skip them (``nested``
    analyses an object array's nested pickle)."""
    if not isinstance(state, dict):
        raise Malformed("joblib array wrapper without a state dict", pos)
    shape = state.get("shape")
    itemsize, is_object = dtype_size(state.get("dtype"))
    if is_object:
        nested()
        return
    if not isinstance(shape, tuple) or not all(isinstance(d, int) for d in shape):
        raise Malformed("joblib array wrapper with an unreadable shape", pos)
    if itemsize is None:
        raise Malformed("joblib array wrapper with an unreadable dtype", pos)
    count = 1
    for d in shape:
        count *= d
    if "numpy_array_alignment_bytes" in state:
        (pad,) = struct.unpack("<B", r.exact(1))
        r.skip(pad)
    r.skip(count * itemsize)


def dtype_size(dtype: Any) -> tuple[int | None, bool]:
    """Item size of a pickled ``numpy.dtype(descr, ...)`` call, and whether it is object."""
    if not isinstance(dtype, Call) or not isinstance(dtype.args, tuple) or not dtype.args:
        return None, False
    descr = dtype.args[0]
    if not isinstance(descr, str):
        return None, False
    m = _DESCR.match(descr)
    if not m:
        return None, False
    kind, digits = m.group(1), m.group(2)
    if kind == "O":
        return None, True
    if kind == "b" and not digits:
        return 1, False
    if not digits:
        return None, False
    size = int(digits)
    return (size * 4 if kind == "U" else size), False
