"""The raw tensor data of PyTorch's legacy (pre-1.6, ``_use_new_zipfile_serialization=False``)
format, laid out as ``torch.serialization._legacy_load`` reads it.

After five pickles (magic number, protocol version, system info, the object, the list of
storage keys) come the storages, in the order of that list: for each, an 8-byte element count
and ``count * element_size`` bytes, the element size given by the storage type the object's
pickle named for that key (``torch.FloatStorage``: 4, ...). Knowing where the data ends tells
a truncated checkpoint (which ``torch.load`` refuses) from a complete one. The pickles are read
with :mod:`pickletools` (opcodes and their arguments; nothing is unpickled or imported).
"""

from __future__ import annotations

import pickletools
import struct
from typing import IO, Any

__all__ = ["legacy_data_problem", "legacy_tar_pickles", "zip_storages"]

_ELEMENT = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16,
    "QInt8Storage": 1, "QUInt8Storage": 1, "QInt32Storage": 4, "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1, "UntypedStorage": 1,
}  # fmt: skip
_STRINGS = frozenset(
    {"BINUNICODE", "SHORT_BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING",
     "BINSTRING", "STRING"}
)  # fmt: skip
_MAX_OPS = 5_000_000


def _values(fp: IO[bytes]) -> list[tuple[str, Any]]:
    """The strings and globals one pickle pushes, in order, memo references resolved."""
    memo: dict[int, tuple[str, Any]] = {}
    out: list[tuple[str, Any]] = []
    for count, (op, arg, _) in enumerate(pickletools.genops(fp)):
        if count > _MAX_OPS:
            raise ValueError("too many opcodes")
        name = op.name
        value: tuple[str, Any] | None = None
        if name in _STRINGS:
            value = ("str", arg.decode("latin-1") if isinstance(arg, bytes) else arg)
        elif name in ("GLOBAL", "INST"):
            value = ("global", str(arg).replace(" ", "."))
        elif name == "STACK_GLOBAL" and len(out) >= 2:
            value = ("global", f"{out[-2][1]}.{out[-1][1]}")
        elif name in ("BINGET", "LONG_BINGET", "GET") and isinstance(arg, int):
            value = memo.get(arg)
        elif name in ("BINPUT", "LONG_BINPUT", "PUT") and isinstance(arg, int) and out:
            memo[arg] = out[-1]
        elif name == "MEMOIZE" and out:
            memo[len(memo)] = out[-1]
        if value is not None:
            out.append(value)
    return out


def legacy_data_problem(
    fp: IO[bytes], size: int, persistent_ids: list[Any], keys: Any, start: int
) -> tuple[str | None, int]:
    """Why the storage data after the five pickles is not what ``torch.load`` reads (``None``:
    it is), and where that data ends. As ``_legacy_load`` does: the first persistent id naming
    a root key makes its storage (``numel`` elements of the storage type's size; torch maps
    any name holding ``Storage`` to its storage type, whatever the module); then, for each key
    of the list in order, an 8-byte element count that must equal that ``numel``, and the
    data."""
    storages: dict[Any, tuple[int, int]] = {}
    for pid in persistent_ids:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] in ("storage", b"storage")):
            continue
        _, stype, root_key, _, numel, _ = pid
        width = _ELEMENT.get(getattr(stype, "name", "").rsplit(".", 1)[-1])
        if width is None or not isinstance(numel, int):
            return None, size  # a storage this reader cannot size: no judgement
        storages.setdefault(_hashable(root_key), (width, numel))
    if not isinstance(keys, list):
        return f"the storage key list is a {type(keys).__name__}, not a list", start
    pos = start
    for key in keys:
        found = storages.get(_hashable(key))
        if found is None:
            return f"storage key {short_repr(key)} names no storage of the object", pos
        width, numel = found
        fp.seek(pos)
        head = fp.read(8)
        if len(head) < 8:
            return f"storage {short_repr(key)} is missing: the checkpoint ends at byte {size}", pos
        (count,) = struct.unpack("<q", head)
        if count != numel:
            return (f"storage {short_repr(key)} holds {count} elements where the object says "
                    f"{numel}: torch.load refuses it", pos)  # fmt: skip
        need = count * width
        if pos + 8 + need > size:
            return (
                f"storage {short_repr(key)} needs {need} bytes at offset {pos + 8}; "
                f"the checkpoint ends at byte {size}"
            ), pos
        pos += 8 + need
    return None, pos


def zip_storages(persistent_ids: list[Any]) -> dict[str, int] | None:
    """``data/<key>`` record -> the bytes ``torch.load`` reads from it, from the persistent
    ids of a zip checkpoint's ``data.pkl`` (``('storage', type, key, location, numel)``);
    None when a storage type cannot be sized."""
    out: dict[str, int] = {}
    for pid in persistent_ids:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] in ("storage", b"storage")):
            continue
        _, stype, key, _, numel = pid
        width = _ELEMENT.get(getattr(stype, "name", "").rsplit(".", 1)[-1])
        if width is None or not isinstance(numel, int) or not isinstance(key, str):
            return None
        out.setdefault(key, numel * width)
    return out


def _hashable(key: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        return repr(key)
    return key


def short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _end_of_pickle(fp: IO[bytes]) -> tuple[list[tuple[str, Any]], int]:
    """The values one pickle from the current position pushes, and where it ends."""
    values = _values(fp)
    return values, fp.tell()


def legacy_tar_pickles(fp: IO[bytes], size: int, member: str) -> tuple[list[int], str | None]:
    """Where each pickle of a legacy tar's ``storages`` or ``tensors`` member starts, and why
    the member is not what ``torch.load`` reads (``None``: complete). Between those pickles lie
    raw bytes that torch reads with ``struct`` or as tensor data, never as opcodes:

    * ``storages``: a count, then per storage a pickle ``(key, location, storage_type)``, an
      8-byte element count and the data;
    * ``tensors``: a count, then per tensor two pickles (key, storage id), a 4-byte ``ndim``,
      4 bytes of padding, ``ndim`` sizes, ``ndim`` strides and the 8-byte storage offset.
    """
    starts: list[int] = []
    fp.seek(0)
    try:
        starts.append(0)
        _, pos = _end_of_pickle(fp)
        count = None
        fp.seek(0)
        for op, arg, _ in pickletools.genops(fp):
            if op.name in ("BININT", "BININT1", "BININT2", "INT", "LONG1") and isinstance(arg, int):
                count = arg
                break
        fp.seek(pos)
        if not isinstance(count, int) or count < 0:
            return starts, None
        for _ in range(count):
            starts.append(pos)
            values, pos = _end_of_pickle(fp)
            if member == "tensors":
                starts.append(pos)
                _, pos = _end_of_pickle(fp)
                fp.seek(pos)
                head = fp.read(8)
                if len(head) < 8:
                    return starts, f"tensor record at offset {pos} is cut short"
                (ndim,) = struct.unpack("<i", head[:4])
                if ndim < 0:
                    return starts, f"tensor record at offset {pos} has ndim {ndim}"
                pos += 8 + 16 * ndim + 8
            else:
                kinds = [v for k, v in values if k == "global" and v.startswith("torch.")]
                width = _ELEMENT.get(kinds[0].rsplit(".", 1)[-1]) if kinds else None
                if width is None:
                    return starts, None  # a storage type this reader cannot size
                fp.seek(pos)
                head = fp.read(8)
                if len(head) < 8:
                    return starts, f"storage record at offset {pos} is cut short"
                (elements,) = struct.unpack("<q", head)
                if elements < 0:
                    return starts, f"storage at offset {pos} has {elements} elements"
                pos += 8 + elements * width
            if pos > size:
                return starts, f"{member} member needs {pos} bytes; it has {size}"
            fp.seek(pos)
    except (ValueError, EOFError, UnicodeDecodeError, struct.error):
        return starts, None  # the pickles' own analysis reports what is wrong with them
    return starts, None
