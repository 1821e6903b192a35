"""joblib's NumPy arrays: bytes written into the pickle stream right after the BUILD of a
``NumpyArrayWrapper``, read the way ``joblib.load`` reads them.

``joblib.load`` unpickles with ``pickle._Unpickler`` subclassed (``NumpyUnpickler``): after every
BUILD whose object is an instance of joblib's ``NumpyArrayWrapper``, ``read_array`` takes the
array from the stream. What it reads depends on the wrapper's attributes (set by BUILD, which
updates ``__dict__``; a wrapper re-built through the memo keeps what earlier BUILDs set) and on
the dtype object among them, whose own BUILD (``numpy.dtype.__setstate__``) may change it:

- ``numpy_array_alignment_bytes`` not None: one byte giving a padding length, then the padding;
- ``dtype.hasobject``: a nested pickle, read by a fresh ``pickle._Unpickler`` (no array
  handling inside it). NumPy takes ``hasobject`` from bit 0 of the flags in the dtype's pickled
  state (version 3 and 4), or from its fields and subarray (versions 0-2): a ``float64`` whose
  state says "has objects" is read as a nested pickle, so the type name alone decides nothing;
- otherwise ``prod(shape) * dtype.itemsize`` raw bytes; the state's ``elsize`` is the item
  size of flexible types (``S``, ``U``, ``V``: structured dtypes).

A wrapper built some way joblib never writes (called with arguments, so ``__init__`` set its
attributes, or a dtype spelled other than ``numpy.dtype.__reduce__`` spells it) cannot be
followed: an error for the file, never a guess.

Reference: joblib ``numpy_pickle.py`` (``NumpyArrayWrapper.read_array``,
``NumpyUnpickler.load_build``); NumPy ``_core/src/multiarray/descriptor.c``
(``arraydescr_setstate``, ``_descr_find_object``).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import Any

from mlstix.scan.models.pickles.opcodes import Call, Global, Malformed, Reader

__all__ = ["COMPANIONS", "WRAPPERS", "JoblibArrays", "companion_outside", "dtype_size"]

WRAPPERS = frozenset(
    [
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
    ]
)
# joblib < 0.10 kept arrays in companion files named by the wrapper's ``filename``, read with
# numpy.load(allow_pickle=True) (NDArrayWrapper) or as a zlib file (ZNDArrayWrapper), joined
# to the pickle's folder: an absolute name or one with ``..`` reads a file from elsewhere
COMPANIONS = frozenset(
    f"{package}.{module}.{cls}"
    for package in ("joblib", "sklearn.externals.joblib")
    for module in ("numpy_pickle", "numpy_pickle_compat")
    for cls in ("NDArrayWrapper", "ZNDArrayWrapper")
)
_DTYPE = frozenset(["numpy.dtype"])
# what numpy.dtype.__reduce__ writes as the first argument: kind and item size
_CANONICAL = re.compile(
    r"^(b1|[iu][1248]|f(?:2|4|8|10|12|16)|c(?:8|16|20|24|32)|O[48]|[SUV]\d+|[Mm]8)$"
)
_FLEXIBLE = "SUV"
_HASOBJECT = 0x01  # NPY_ITEM_HASOBJECT
_OBJECT_FLAGS = 63  # NPY_OBJECT_DTYPE_FLAGS
_DEFAULT_FLAGS = {"O": _OBJECT_FLAGS, "U": 8}  # a fresh numpy.dtype(descr, False, True)
_MAX_DEPTH = 32


class JoblibArrays:
    """The wrappers and dtypes one pickle has built so far (by object identity, as the memo
    hands the same object back)."""

    def __init__(self) -> None:
        self.dtype_states: dict[int, tuple[Any, Any]] = {}
        self.wrappers: dict[int, tuple[Any, dict[str, Any]]] = {}

    def dtype_built(self, obj: Any, state: Any) -> None:
        """BUILD on a ``numpy.dtype(...)``: its ``__setstate__`` replaces what the state holds."""
        self.dtype_states[id(obj)] = (obj, state)

    def object_flag_cleared(self, dtype: Any, pos: int) -> bool:
        """A dtype holding objects (an ``O`` kind, field or subarray base) whose pickled flags
        clear NumPy's has-object bit: arrays of it take raw bytes from the file as object
        pointers (``frombuffer``, ``ndarray.__setstate__``), memory corruption on load."""
        try:
            return self._holds_objects(dtype, pos, 0) and not self._flags(dtype, pos, 0) & 1
        except Malformed:
            return False

    def _holds_objects(self, dtype: Any, pos: int, depth: int) -> bool:
        if depth > _MAX_DEPTH:
            raise Malformed("numpy dtype nested too deeply", pos)
        descr = _descr(dtype)
        if descr is None or descr[0] == "O":
            return descr is not None
        state = self._state(dtype, pos)
        inner = [] if state is None else state.fields + state.subarray
        return any(self._holds_objects(d, pos, depth + 1) for d in inner)

    def read_array(
        self,
        wrapper: Call,
        direct: bool,
        state: Any,
        r: Reader,
        pos: int,
        nested: Callable[[], None],
    ) -> None:
        """BUILD on joblib's wrapper (``direct``: built by calling the class itself, not
        through ``copyreg``): update its attributes, then read the array as ``read_array``
        does (``nested`` analyses an object array's nested pickle)."""
        if direct and wrapper.args != ():
            raise Malformed("joblib array wrapper called with arguments (never written)", pos)
        attrs = self.wrappers.setdefault(id(wrapper), (wrapper, {}))[1]
        _apply_state(attrs, state, pos)
        shape, dtype = attrs.get("shape"), attrs.get("dtype")
        if not isinstance(shape, tuple | list) or not all(isinstance(d, int) for d in shape):
            raise Malformed("joblib array wrapper with an unreadable shape", pos)
        itemsize, has_object = self._dtype(dtype, pos, 0)
        count = 1
        for d in shape:
            count *= d
        if count < 0:
            raise Malformed("joblib array wrapper with a negative shape", pos)
        if has_object:
            nested()
            return
        if attrs.get("numpy_array_alignment_bytes") is not None:
            (pad,) = struct.unpack("<B", r.exact(1))
            r.skip(pad)
        r.skip(count * itemsize)

    def _dtype(self, dtype: Any, pos: int, depth: int) -> tuple[int, bool]:
        """``(itemsize, hasobject)`` of a pickled dtype after its BUILD, as NumPy sets them."""
        descr = _descr(dtype)
        if descr is None:
            raise Malformed("joblib array wrapper with an unreadable dtype", pos)
        itemsize = 1 if descr == "b1" else int(descr[1:]) * (4 if descr[0] == "U" else 1)
        state = self._state(dtype, pos)
        if state is not None and descr[0] in _FLEXIBLE:
            itemsize = state.elsize
        if itemsize < 0:
            raise Malformed("numpy dtype state with a negative item size", pos)
        return itemsize, bool(self._flags(dtype, pos, depth) & _HASOBJECT)

    def _state(self, dtype: Any, pos: int) -> _DtypeState | None:
        entry = self.dtype_states.get(id(dtype))
        return None if entry is None else _DtypeState.parse(entry[1], pos)

    def _flags(self, dtype: Any, pos: int, depth: int) -> int:
        """The dtype's flags after its BUILD: the state's (versions 3 and 4), or NumPy's
        ``_descr_find_object`` (versions 0-2: any flag set, an object kind, or a field whose
        own flags or kind say so)."""
        if depth > _MAX_DEPTH:
            raise Malformed("joblib array dtype nested too deeply", pos)
        descr = _descr(dtype)
        if descr is None:
            raise Malformed("numpy dtype that cannot be read", pos)
        state = self._state(dtype, pos)
        if state is None:
            return _DEFAULT_FLAGS.get(descr[0], 0)
        if state.version >= 3:
            return state.flags
        if state.flags or descr[0] == "O" or self._field_object(state, pos, depth):
            return _OBJECT_FLAGS
        return 0

    def _field_object(self, state: _DtypeState, pos: int, depth: int) -> bool:
        for field in state.fields:
            if self._flags(field, pos, depth + 1) or _descr(field) in ("O4", "O8"):
                return True
            inner = self._state(field, pos)
            if inner is not None and self._field_object(inner, pos, depth + 1):
                return True
        return False


class _DtypeState:
    """``numpy.dtype.__setstate__``'s argument, by tuple length as NumPy reads it:
    9/8 ``(version, endian, subarray, names, fields, elsize, alignment, flags[, metadata])``,
    7 without flags, 6 ``(version, endian, subarray, fields, elsize, alignment)``, 5 the same
    without version (version 0)."""

    def __init__(
        self, version: int, fields: list[Any], subarray: list[Any], elsize: int, flags: int
    ) -> None:
        self.version, self.fields, self.elsize, self.flags = version, fields, elsize, flags
        self.subarray = subarray  # the base dtype of a subarray, if any

    @classmethod
    def parse(cls, state: Any, pos: int) -> _DtypeState:
        if not isinstance(state, tuple) or not 5 <= len(state) <= 9:
            raise Malformed("numpy dtype state NumPy cannot read", pos)
        n = len(state)
        version = 0 if n == 5 else state[0]
        fields = state[{5: 2, 6: 3}.get(n, 4)]
        elsize = state[{5: 3, 6: 4}.get(n, 5)]
        flags = state[7] if n >= 8 else 0
        if not isinstance(version, int) or not 0 <= version <= 4:
            raise Malformed(f"numpy dtype pickle version {version!r}", pos)
        if not isinstance(elsize, int) or not isinstance(flags, int):
            raise Malformed("numpy dtype state with a non-integer size or flags", pos)
        if -128 <= flags < 0:  # NumPy once stored the flags as a signed char
            flags += 128
        if not 0 <= flags < 1 << 64:
            raise Malformed("numpy dtype state flags out of range", pos)
        values = list(fields.values())[:4096] if isinstance(fields, dict) else []
        sub = state[1 if n == 5 else 2]
        return cls(
            version,
            [v[0] for v in values if isinstance(v, tuple) and v],
            [sub[0]] if isinstance(sub, tuple) and sub else [],
            elsize,
            flags,
        )


def companion_outside(state: Any) -> str | None:
    """The companion file name of an old joblib wrapper's state when it leaves the pickle's
    folder (absolute, a drive, or a ``..`` part), else None."""
    if not isinstance(state, dict):
        return None
    name = state.get("filename")
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    if not isinstance(name, str):
        return None
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\", "~")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        return name
    return None


def _apply_state(attrs: dict[str, Any], state: Any, pos: int) -> None:
    """``pickle._Unpickler.load_build`` on an object without ``__setstate__``: a dict updates
    ``__dict__``, a ``(dict, slotstate)`` pair sets both."""
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    for part in parts:
        if part is None or part == {}:
            continue
        if not isinstance(part, dict) or not all(isinstance(k, str) for k in part):
            raise Malformed("joblib array wrapper state is not a dict of names", pos)
        attrs.update(part)


def _descr(dtype: Any) -> str | None:
    """The type string of ``numpy.dtype(descr, align, copy)`` as ``__reduce__`` writes it."""
    if not isinstance(dtype, Call) or not isinstance(dtype.func, Global):
        return None
    if dtype.func.qualname not in _DTYPE or not isinstance(dtype.args, tuple) or not dtype.args:
        return None
    descr = dtype.args[0]
    if not isinstance(descr, str) or not _CANONICAL.match(descr):
        return None
    return descr


def dtype_size(dtype: Any) -> tuple[int | None, bool]:
    """Item size of a pickled ``numpy.dtype(descr, ...)`` call (ignoring any BUILD state),
    and whether it is object."""
    descr = _descr(dtype)
    if descr is None:
        return None, False
    if descr[0] == "O":
        return None, True
    size = 1 if descr == "b1" else int(descr[1:])
    return (size * 4 if descr[0] == "U" else size), False
