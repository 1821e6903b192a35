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

Reference: ggml ``src/gguf.cpp`` (``gguf_init_from_file_impl``), ``src/ggml.c``
(``type_traits``: block and type sizes), llama.cpp ``llama-model-loader.cpp`` (file bounds),
``docs/gguf.md``.
"""

from __future__ import annotations

import struct
from typing import IO

__all__ = ["DEFAULT_ALIGNMENT", "tensor_problems"]

DEFAULT_ALIGNMENT = 32
_MAX_NAME = 64  # GGML_MAX_NAME: names of this length or longer are refused
_MAX_DIMS = 4
_INT64_MAX = (1 << 63) - 1
_MAX_PROBLEMS = 5
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


class _Refused(Exception):
    """What llama.cpp refuses while reading the infos: nothing after it can be placed."""


def _exact(fp: IO[bytes], n: int) -> bytes:
    data = fp.read(n)
    if len(data) != n:
        raise _Refused(f"truncated: {n} bytes wanted at offset {fp.tell() - len(data)}")
    return data


def _pad(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def tensor_problems(fp: IO[bytes], count: int, alignment: int, size: int) -> list[str]:
    """Read ``count`` tensor infos from ``fp`` (just after the metadata) of a file of ``size``
    bytes; what llama.cpp refuses, one line each (at most a few)."""
    infos: list[tuple[str, int, int]] = []  # name, bytes, offset
    names: set[str] = set()
    sizes_known = True
    try:
        for _ in range(count):
            name, nbytes, offset = _info(fp, names)
            if nbytes < 0:
                sizes_known = False  # a type newer than this table: its size is unknown
            infos.append((name, nbytes, offset))
    except (_Refused, struct.error) as exc:
        return [f"tensor info {len(infos)}: {exc}"]
    start = _pad(fp.tell(), alignment)
    problems: list[str] = []
    running = 0
    for name, nbytes, offset in infos:
        if len(problems) >= _MAX_PROBLEMS:
            break
        if nbytes < 0:
            break
        if sizes_known and offset != running:
            how = "overlaps the tensor before it" if offset < running else "leaves a gap"
            problems.append(f"tensor {name!r} at offset {offset} {how} (llama.cpp expects "
                            f"{running}: tensors follow each other in order)")  # fmt: skip
            sizes_known = False  # llama.cpp stops here; the bounds below are still checked
        if start + offset + nbytes > size:
            problems.append(f"tensor {name!r} data ({nbytes} bytes at offset {offset} of the "
                            f"data section at {start}) runs past the end of the "
                            f"{size}-byte file")  # fmt: skip
        running += _pad(nbytes, alignment)
    return problems


def _info(fp: IO[bytes], names: set[str]) -> tuple[str, int, int]:
    """One tensor info: its name, data size in bytes (-1: a type this table does not know)
    and offset, with llama.cpp's checks."""
    (n,) = struct.unpack("<Q", _exact(fp, 8))
    if n >= _MAX_NAME:
        raise _Refused(f"tensor name of {n} bytes (llama.cpp takes fewer than {_MAX_NAME})")
    name = _exact(fp, n).decode("utf-8", "replace")
    if name in names:
        raise _Refused(f"duplicate tensor name {name!r}")
    names.add(name)
    (dims,) = struct.unpack("<I", _exact(fp, 4))
    if dims > _MAX_DIMS:
        raise _Refused(f"tensor {name!r} has {dims} dimensions (at most {_MAX_DIMS})")
    ne = list(struct.unpack(f"<{dims}q", _exact(fp, 8 * dims))) + [1] * (_MAX_DIMS - dims)
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
    (gtype,) = struct.unpack("<i", _exact(fp, 4))
    (offset,) = struct.unpack("<Q", _exact(fp, 8))
    if gtype < 0:
        raise _Refused(f"tensor {name!r} has an invalid ggml type {gtype}")
    if gtype not in _TYPES:
        return name, -1, offset
    block, type_size = _TYPES[gtype]
    if block == 0 or ne[0] % block:
        raise _Refused(f"tensor {name!r} of ggml type {gtype} has {ne[0]} elements a row, no "
                       f"whole number of its blocks ({block or 'a removed type'})")  # fmt: skip
    return name, type_size * (ne[0] // block) * ne[1] * ne[2] * ne[3], offset
