"""Read what can be read of a damaged log file, and say where the damage is.

Used only for files the fast path (DuckDB) refused. Returns the good records, each with its
location (line number in JSON lines, record number in arrays and documents) re-encoded as one
JSON line, and one message per problem naming the line. A truncated gzip keeps every complete
line before the cut; a truncated or malformed array keeps every complete record before the bad
one.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import orjson

from mlstix.detect.logs._shapes import Shape

__all__ = ["MAX_DOCUMENT", "line_numbers", "salvage"]

_MAX_LINE = 64 * 1024 * 1024  # one JSON line (an event), as in the fast path
_INFLATE = 16 * 1024 * 1024  # decompressed bytes per step
MAX_DOCUMENT = 512 * 1024 * 1024  # one CloudTrail or Azure records document, decompressed


def _chunks(path: Path, gzipped: bool) -> Iterator[bytes]:
    with path.open("rb") as raw:
        if not gzipped:
            while block := raw.read(1 << 20):
                yield block
            return
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while block := raw.read(1 << 20):
            data = block
            while data:  # at most _INFLATE bytes at a time: 1 MiB of gzip inflates to 1 GiB
                out = inflater.decompress(data, _INFLATE)
                data = inflater.unconsumed_tail
                if inflater.eof and inflater.unused_data:  # concatenated gzip members
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                if out:
                    yield out
        if not inflater.eof:
            raise EOFError("the gzip stream ends before its end marker (truncated)")


def _lines(path: Path, gzipped: bool, problems: list[str]) -> Iterator[tuple[int, bytes]]:
    number = 0
    pending = b""
    try:
        for chunk in _chunks(path, gzipped):
            pending += chunk
            *whole, pending = pending.split(b"\n")
            for line in whole:
                number += 1
                yield number, line
            if len(pending) > _MAX_LINE:
                problems.append(f"line {number + 1}: longer than {_MAX_LINE} bytes; not read")
                return
        if pending:
            yield number + 1, pending
    except (OSError, EOFError, zlib.error) as exc:
        problems.append(f"line {number + 1}: {exc}; the lines before it were read")


def line_numbers(path: Path, shape: Shape, last: int) -> dict[int, int]:
    """Record number (as DuckDB counts them: non-blank lines) → line number, up to ``last``."""
    out: dict[int, int] = {}
    problems: list[str] = []
    for number, line in _lines(path, shape.compression == "gzip", problems):
        if line.strip():
            out[len(out) + 1] = number
            if len(out) >= last:
                break
    return out


def _envelope(obj: object, shape: Shape) -> object:
    if shape.envelope and isinstance(obj, dict):
        return obj.get(shape.envelope)
    return obj


def _from_lines(path: Path, shape: Shape, problems: list[str]) -> list[tuple[int, bytes]]:
    records = []
    for number, line in _lines(path, shape.compression == "gzip", problems):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {number}: not a JSON object")
            continue
        records.append((number, orjson.dumps(_envelope(obj, shape))))
    return records


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


def _from_array(path: Path, shape: Shape, problems: list[str]) -> list[tuple[int, bytes]]:
    data = b""
    try:
        for chunk in _chunks(path, shape.compression == "gzip"):
            data += chunk
            if len(data) > MAX_DOCUMENT:
                problems.append(f"larger than {MAX_DOCUMENT} bytes decompressed; not read")
                return []
    except (OSError, EOFError, zlib.error) as exc:
        problems.append(f"{exc}; the records before the cut were read")
    text = data.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    start = text.find("[")
    if shape.container == "document":
        key = text.find(f'"{shape.records_key}"')
        start = text.find("[", key) if key >= 0 else -1
    if start < 0:
        problems.append("line 1: no records array")
        return []
    records: list[tuple[int, bytes]] = []
    pos = start + 1
    index = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            if pos >= len(text):
                problems.append(f"{_position(text, pos)}: the records array is not closed")
            break
        index += 1
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            problems.append(
                f"{_position(text, exc.pos)}: record {index} is not valid JSON ({exc.msg}); "
                "it and the records after it were not read"
            )
            break
        if not isinstance(obj, dict):
            problems.append(f"record {index}: not a JSON object")
            continue
        records.append((index, orjson.dumps(_envelope(obj, shape))))
    return records


def salvage(path: Path, shape: Shape) -> tuple[list[tuple[int, bytes]], list[str]]:
    """(records with their line or record number, problems) of a damaged file."""
    problems: list[str] = []
    try:
        if shape.container == "lines":
            return _from_lines(path, shape, problems), problems
        return _from_array(path, shape, problems), problems
    except OSError as exc:
        return [], [*problems, f"cannot read: {exc}"]
