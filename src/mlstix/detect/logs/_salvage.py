"""Read what can be read of a damaged log file, and say where the damage is.

Used only for files the fast path (DuckDB) refused. Writes the good records, each re-encoded as
one JSON line, to a file the engine queries, returns their locations (line number in JSON lines,
record number in arrays and documents), and records one problem per bad line naming it (the
first hundred in full, :class:`~._limits.Problems`). Nothing is held per record but its location,
so a damaged file of millions of records is read in bounded memory. A truncated gzip keeps every
complete line before the cut; a truncated or malformed array keeps every complete record before
the bad one.
"""

from __future__ import annotations

import codecs
import json
import re
import zlib
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

from mlstix.detect.logs._limits import Problems
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


def _lines(path: Path, gzipped: bool, problems: Problems) -> Iterator[tuple[int, bytes]]:
    number = 0
    pending: list[bytes] = []  # the start of a line not ended yet, in pieces (never re-copied)
    size = 0
    try:
        for chunk in _chunks(path, gzipped):
            *whole, rest = chunk.split(b"\n")
            if whole:
                if pending:
                    whole[0] = b"".join([*pending, whole[0]])
                    pending, size = [], 0
                for line in whole:
                    number += 1
                    yield number, line
            if rest:
                pending.append(rest)
                size += len(rest)
            if size > _MAX_LINE:
                problems.append(f"line {number + 1}: longer than {_MAX_LINE} bytes; not read")
                return
        if pending:
            yield number + 1, b"".join(pending)
    except (OSError, EOFError, zlib.error) as exc:
        problems.append(f"line {number + 1}: {exc}; the lines before it were read")


def line_numbers(path: Path, shape: Shape, wanted: set[int]) -> dict[int, int]:
    """Record number (as DuckDB counts them: non-blank lines) → line number, for the records in
    ``wanted`` (the file is read up to the last of them)."""
    out: dict[int, int] = {}
    last = max(wanted, default=0)
    record = 0
    for number, line in _lines(path, shape.compression == "gzip", Problems()):
        if record >= last:
            break
        if line.strip():
            record += 1
            if record in wanted:
                out[record] = number
    return out


def _envelope(obj: object, shape: Shape) -> object:
    if shape.envelope and isinstance(obj, dict):
        return obj.get(shape.envelope)
    return obj


def _from_lines(path: Path, shape: Shape, problems: Problems, out: BinaryIO) -> array[int]:
    records = array("q")
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
        out.write(orjson.dumps(_envelope(obj, shape)) + b"\n")
        records.append(number)
    return records


_SKIP = re.compile(r"[ \t\r\n,]*")


class _Text:
    """The decompressed text of a file, decoded and held a window at a time: what was parsed is
    dropped, so memory is one step plus the record being read, whatever the file's size."""

    def __init__(self, path: Path, gzipped: bool, problems: Problems) -> None:
        self.chunks = _chunks(path, gzipped)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.problems = problems
        self.text = ""
        self.size = 0  # decompressed bytes read so far
        self.done = False
        self.lines = 0  # newlines in the dropped text
        self.column = 0  # characters after the last dropped newline

    def more(self) -> bool:
        """Read one more step; False at the end (a cut or damaged stream is a problem)."""
        if self.done:
            return False
        try:
            chunk = next(self.chunks, None)
        except (OSError, EOFError, zlib.error) as exc:
            self.problems.append(f"{exc}; the records before the cut were read")
            chunk = None
        if chunk is None:
            self.done = True
            self.text += self.decoder.decode(b"", final=True)
            return False
        self.size += len(chunk)
        if self.size > MAX_DOCUMENT:
            raise _TooLarge
        self.text += self.decoder.decode(chunk)
        return True

    def drop(self, pos: int) -> None:
        newlines = self.text.count("\n", 0, pos)
        if newlines:
            self.lines += newlines
            self.column = pos - (self.text.rfind("\n", 0, pos) + 1)
        else:
            self.column += pos
        self.text = self.text[pos:]

    def position(self, index: int) -> str:
        newlines = self.text.count("\n", 0, index)
        line = self.lines + newlines + 1
        if newlines:
            column = index - (self.text.rfind("\n", 0, index) + 1) + 1
        else:
            column = self.column + index + 1
        return f"line {line}, column {column}"


class _TooLarge(Exception):
    pass


def _start(text: _Text, shape: Shape) -> int:
    """Where the records array opens (after its ``[``), or -1."""
    while True:
        start = text.text.find("[")
        if shape.container == "document":
            key = text.text.find(f'"{shape.records_key}"')
            start = text.text.find("[", key) if key >= 0 else -1
        if start >= 0 or not text.more():
            return start + 1 if start >= 0 else -1


def _from_array(path: Path, shape: Shape, problems: Problems, out: BinaryIO) -> array[int]:
    text = _Text(path, shape.compression == "gzip", problems)
    decoder = json.JSONDecoder()
    records = array("q")
    try:
        pos = _start(text, shape)
        if pos < 0:
            problems.append("line 1: no records array")
            return records
        index = 0
        while True:
            pos = _SKIP.match(text.text, pos).end()  # type: ignore[union-attr]
            if pos >= len(text.text):
                text.drop(pos)
                pos = 0
                if text.more():
                    continue
                problems.append(f"{text.position(0)}: the records array is not closed")
                break
            if text.text[pos] == "]":
                break
            text.drop(pos)
            pos = 0
            index += 1
            failure: json.JSONDecodeError | None = None
            while True:  # a record cut by the end of a step is read again with the next step
                try:
                    obj, pos = decoder.raw_decode(text.text, 0)
                    failure = None
                    break
                except json.JSONDecodeError as exc:
                    failure = exc
                    if len(text.text) > _MAX_LINE or not text.more():
                        break
            if failure is not None:
                if len(text.text) > _MAX_LINE:
                    why = f"longer than {_MAX_LINE} bytes"
                else:
                    why = f"not valid JSON ({failure.msg})"
                problems.append(
                    f"{text.position(failure.pos)}: record {index} is {why}; "
                    "it and the records after it were not read"
                )
                break
            if not isinstance(obj, dict):
                problems.append(f"record {index}: not a JSON object")
                continue
            out.write(orjson.dumps(_envelope(obj, shape)) + b"\n")
            records.append(index)
    except _TooLarge:
        problems.append(f"larger than {MAX_DOCUMENT} bytes decompressed; not read")
        out.seek(0)
        out.truncate()
        return array("q")
    return records


def salvage(path: Path, shape: Shape, out: BinaryIO, problems: Problems) -> array[int]:
    """Write the good records of a damaged file to ``out``, one JSON line each; their line or
    record numbers, in order; what was wrong goes to ``problems``."""
    try:
        if shape.container == "lines":
            return _from_lines(path, shape, problems, out)
        return _from_array(path, shape, problems, out)
    except OSError as exc:
        problems.append(f"cannot read: {exc}")
        out.seek(0)
        out.truncate()
        return array("q")
