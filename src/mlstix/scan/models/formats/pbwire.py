"""A minimal, streaming Protocol Buffers wire-format reader (protobuf encoding spec).

Used for ONNX ``ModelProto`` and TensorFlow ``SavedModel``, which have no magic number and can
be large: fields are walked in place on a seekable stream, length-delimited fields are returned
as ``(offset, length)`` so that big payloads (tensor data) are skipped, never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

__all__ = ["PbError", "TooLarge", "fields", "read_bytes", "strings", "walk"]

_MAX_DEPTH = 100  # protobuf's own default recursion limit: deeper, no loader parses it


class PbError(Exception):
    """Not a valid protobuf message."""


class TooLarge(Exception):
    """A message has more fields than :func:`walk` will visit."""


def _varint(fp: IO[bytes]) -> int:
    result = 0
    for shift in range(0, 70, 7):
        b = fp.read(1)
        if not b:
            raise PbError("truncated varint")
        result |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return result
    raise PbError("varint too long")


def fields(fp: IO[bytes], start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """``(field number, wire type, value or offset, length)`` for each field in
    ``[start, end)``. Varints and fixed fields give their value and length 0; length-delimited
    fields give the offset of their payload and its length."""
    pos = start
    while pos < end:
        fp.seek(pos)
        key = _varint(fp)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise PbError(f"field number 0 at offset {pos}")
        if wire == 0:
            value = _varint(fp)
            pos = fp.tell()
            yield number, wire, value, 0
        elif wire == 1:
            data = fp.read(8)
            if len(data) != 8:
                raise PbError("truncated fixed64")
            pos = fp.tell()
            yield number, wire, int.from_bytes(data, "little"), 0
        elif wire == 5:
            data = fp.read(4)
            if len(data) != 4:
                raise PbError("truncated fixed32")
            pos = fp.tell()
            yield number, wire, int.from_bytes(data, "little"), 0
        elif wire == 2:
            length = _varint(fp)
            offset = fp.tell()
            if offset + length > end:
                raise PbError(f"field {number} runs past its message at offset {offset}")
            pos = offset + length
            yield number, wire, offset, length
        else:
            raise PbError(f"unsupported wire type {wire} at offset {pos}")
    if pos != end:
        raise PbError("message ends inside a field")


def read_bytes(fp: IO[bytes], offset: int, length: int, limit: int = 1 << 20) -> bytes:
    """The payload of a length-delimited field (at most ``limit`` bytes)."""
    if length > limit:
        raise PbError(f"a {length}-byte string where at most {limit} was expected")
    fp.seek(offset)
    data = fp.read(length)
    if len(data) != length:
        raise PbError("truncated string")
    return data


def strings(fp: IO[bytes], start: int, end: int, number: int) -> list[str]:
    """The string values of field ``number`` in the message ``[start, end)``."""
    out = []
    for n, wire, off, length in fields(fp, start, end):
        if n == number and wire == 2:
            out.append(read_bytes(fp, off, length).decode("utf-8", "replace"))
    return out


Field = tuple[int, int, int, int]


def walk(
    fp: IO[bytes], start: int, end: int, budget: int = 5_000_000
) -> Iterator[tuple[int, list[Field]]]:
    """``(depth, fields)`` of the message ``[start, end)`` and of every length-delimited field
    inside it, at any depth, that parses as a message: known fields or not, the way a schema-
    less reader sees them. Iterative (no recursion); raises :class:`TooLarge` past ``budget``
    fields and :class:`PbError` when the outer message itself does not parse."""
    stack = [(start, end, 0)]
    visited = 0
    while stack:
        s, e, depth = stack.pop()
        found: list[Field] = []
        try:
            for f in fields(fp, s, e):
                found.append(f)
                visited += 1
                if visited > budget:
                    raise TooLarge(f"more than {budget} protobuf fields")
        except PbError:
            if depth == 0:
                raise
            continue  # bytes, not a message
        yield depth, found
        if depth < _MAX_DEPTH:
            for _, wire, off, length in reversed(found):
                if wire == 2 and 2 <= length <= 64 << 20:
                    stack.append((off, off + length, depth + 1))
