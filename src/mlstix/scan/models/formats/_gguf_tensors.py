"""GGUF tensor infos, checked as llama.cpp checks them before it maps the data.

After the metadata come ``tensor_count`` infos: name, dimension count, dimensions, ggml type,
offset into the data section, which starts at the next multiple of the alignment
(``general.alignment``, a u32 power of two, 32 when absent). ``gguf_init_from_file`` refuses a
name of 64 bytes or more, a duplicate name, more than 4 dimensions, a negative dimension or an
element count past ``INT64_MAX``, an unknown or removed type, a row that is no whole number of
the type's blocks, and an offset other than the running total of the padded sizes before it
(tensors follow each other in order: an overlap or a gap is refused). The model loader then
refuses a tensor whose data runs past the end of the file. A file llama.cpp refuses or reads
into memory it does not hold is an error for the file, as a safetensors header its loader
refuses is.

The type table is ggml's ``enum ggml_type`` up to ``GGML_TYPE_COUNT`` (42: ``MXFP4`` 39,
``NVFP4`` 40, ``Q1_0`` 41); ``gguf.cpp`` refuses a type at or past the count, so a file with
one is refused by every llama.cpp this table covers, and its data cannot be placed.

Bytes no tensor owns are skipped by every GGUF loader: what follows the last tensor's padded
data, and padding (to the alignment, which the file chooses) before the data section and
between tensors. A polyglot hides a payload for another loader there (:func:`hidden_bytes`):
bytes after the data, and non-zero padding stretches of :data:`_PAD_READ` bytes or more
(writers pad with zeros; shorter stretches are not read, so a scan of a real file reads no
tensor data; at most :data:`_MAX_PAD_STRETCHES` are read). In a file without tensors every
byte after the metadata is one no loader reads. Big-endian files (what gguf-py writes for
s390x) are read byte-swapped, as gguf-py reads them.

Reference: ggml ``src/gguf.cpp`` (``gguf_init_from_file_impl``), ``include/ggml.h``
(``enum ggml_type``), ``src/ggml.c`` (``type_traits``: block and type sizes), llama.cpp
``llama-model-loader.cpp`` (file bounds), ``docs/gguf.md`` (``general.alignment``, padding).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

__all__ = ["DEFAULT_ALIGNMENT", "Layout", "hidden_bytes", "tensor_problems"]

DEFAULT_ALIGNMENT = 32
_MAX_NAME = 64  # GGML_MAX_NAME: names of this length or longer are refused
_MAX_DIMS = 4
_INT64_MAX = (1 << 63) - 1
_MAX_PROBLEMS = 5
_PAD_READ = 256  # padding stretches this long or longer are read and must be zero
_MAX_PAD_READ = 16 << 20  # padding bytes read per file at most
_MAX_PAD_STRETCHES = 64  # padding stretches read per file at most (each a range read remotely)
# ggml type id -> (block size, bytes per block); block size 0: a removed type (refused)
_TYPES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 4: (0, 0), 5: (0, 0), 6: (32, 22),
    7: (32, 24), 8: (32, 34), 9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144),
    13: (256, 176), 14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74),
    18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82), 23: (256, 136),
    24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    31: (0, 0), 32: (0, 0), 33: (0, 0), 34: (256, 54), 35: (256, 66), 36: (0, 0), 37: (0, 0),
    38: (0, 0), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}  # fmt: skip


@dataclass(frozen=True)
class Layout:
    """Where the tensor infos end, and each tensor's data (offset in the file, bytes)."""

    infos_end: int
    start: int
    tensors: tuple[tuple[int, int], ...]


class _Refused(Exception):
    """What llama.cpp refuses while reading the infos: nothing after it can be placed."""


def _exact(fp: IO[bytes], n: int) -> bytes:
    data = fp.read(n)
    if len(data) != n:
        raise _Refused(f"truncated: {n} bytes wanted at offset {fp.tell() - len(data)}")
    return data


def _pad(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def tensor_problems(
    fp: IO[bytes], count: int, alignment: int, size: int, order: str = "<"
) -> tuple[list[str], Layout | None]:
    """Read ``count`` tensor infos from ``fp`` (just after the metadata) of a file of ``size``
    bytes; what llama.cpp refuses, one line each (at most a few), and the data layout when
    nothing is refused."""
    infos: list[tuple[str, int, int]] = []  # name, bytes, offset
    names: set[str] = set()
    try:
        for _ in range(count):
            infos.append(_info(fp, names, order))
    except (_Refused, struct.error) as exc:
        return [f"tensor info {len(infos)}: {exc}"], None
    infos_end = fp.tell()
    start = _pad(infos_end, alignment)
    problems: list[str] = []
    running = 0
    in_order = True
    for name, nbytes, offset in infos:
        if len(problems) >= _MAX_PROBLEMS:
            break
        if in_order and offset != running:
            how = "overlaps the tensor before it" if offset < running else "leaves a gap"
            problems.append(f"tensor {name!r} at offset {offset} {how} (llama.cpp expects "
                            f"{running}: tensors follow each other in order)")  # fmt: skip
            in_order = False  # llama.cpp stops here; the bounds below are still checked
        if start + offset + nbytes > size:
            problems.append(f"tensor {name!r} data ({nbytes} bytes at offset {offset} of the "
                            f"data section at {start}) runs past the end of the "
                            f"{size}-byte file")  # fmt: skip
        running += _pad(nbytes, alignment)
    if problems:
        return problems, None
    return [], Layout(infos_end, start, tuple((start + o, n) for _, n, o in infos))


def hidden_bytes(fp: IO[bytes], layout: Layout, alignment: int, size: int) -> str | None:
    """Bytes of a well-formed GGUF file that no loader reads (see the module docstring), as
    one line, or None."""
    data_end = layout.start
    if layout.tensors:
        offset, nbytes = layout.tensors[-1]
        data_end = offset + nbytes
    padded_end = min(size, _pad(data_end, alignment)) if layout.tensors else data_end
    stretches = [(layout.infos_end, min(layout.start, size))]
    stretches += [(o + n, _pad(o + n, alignment)) for o, n in layout.tensors]
    stretches[-1] = (stretches[-1][0], padded_end)
    budget, reads = _MAX_PAD_READ, _MAX_PAD_STRETCHES
    for i, (begin, end) in enumerate(stretches):
        # without tensors, what follows the infos is all the file has left: read it whole
        if (end - begin < _PAD_READ and (layout.tensors or i)) or budget <= 0 or reads <= 0:
            continue
        reads -= 1
        fp.seek(begin)
        raw = fp.read(min(end - begin, budget))
        budget -= len(raw)
        if raw.strip(b"\x00"):
            at = begin + len(raw) - len(raw.lstrip(b"\x00"))
            if not layout.tensors:
                return (f"{size - begin} bytes after the metadata (from offset {begin}; no "
                        "tensors) that no GGUF loader reads")  # fmt: skip
            return (f"padding of {end - begin} bytes at offset {begin} holds data (at offset "
                    f"{at}; writers pad with zeros, loaders skip it)")  # fmt: skip
    if size > padded_end:
        return (
            f"{size - padded_end} bytes after the tensor data (from offset {padded_end}) "
            "that no GGUF loader reads"
        )
    return None


def _info(fp: IO[bytes], names: set[str], order: str) -> tuple[str, int, int]:
    """One tensor info: its name, data size in bytes and offset, with llama.cpp's checks."""
    (n,) = struct.unpack(order + "Q", _exact(fp, 8))
    if n >= _MAX_NAME:
        raise _Refused(f"tensor name of {n} bytes (llama.cpp takes fewer than {_MAX_NAME})")
    name = _exact(fp, n).decode("utf-8", "replace")
    if name in names:
        raise _Refused(f"duplicate tensor name {name!r}")
    names.add(name)
    (dims,) = struct.unpack(order + "I", _exact(fp, 4))
    if dims > _MAX_DIMS:
        raise _Refused(f"tensor {name!r} has {dims} dimensions (at most {_MAX_DIMS})")
    ne = list(struct.unpack(f"{order}{dims}q", _exact(fp, 8 * dims))) + [1] * (_MAX_DIMS - dims)
    if any(d < 0 for d in ne):
        raise _Refused(f"tensor {name!r} has a negative dimension {ne}")
    if 0 in ne[1:]:  # gguf.cpp divides INT64_MAX by each of them
        raise _Refused(f"tensor {name!r} has a zero dimension {ne} (llama.cpp divides by it)")
    if (
        _INT64_MAX // ne[1] <= ne[0]
        or _INT64_MAX // ne[2] <= ne[0] * ne[1]
        or _INT64_MAX // ne[3] <= ne[0] * ne[1] * ne[2]
    ):
        raise _Refused(f"tensor {name!r} has {ne} elements (past INT64_MAX)")
    (gtype,) = struct.unpack(order + "i", _exact(fp, 4))
    (offset,) = struct.unpack(order + "Q", _exact(fp, 8))
    if gtype < 0:
        raise _Refused(f"tensor {name!r} has an invalid ggml type {gtype}")
    if gtype not in _TYPES:
        count = max(_TYPES) + 1
        raise _Refused(f"tensor {name!r} has ggml type {gtype}, past the types llama.cpp "
                       f"knows (GGML_TYPE_COUNT {count}): it refuses the file")  # fmt: skip
    block, type_size = _TYPES[gtype]
    if block == 0 or ne[0] % block:
        raise _Refused(f"tensor {name!r} of ggml type {gtype} has {ne[0]} elements a row, no "
                       f"whole number of its blocks ({block or 'a removed type'})")  # fmt: skip
    return name, type_size * (ne[0] // block) * ne[1] * ne[2] * ne[3], offset
