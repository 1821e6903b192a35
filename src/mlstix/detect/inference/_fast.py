"""The common case read in columns: SageMaker Data Capture lines with CSV bodies.

Endpoints serving tabular models write Data Capture lines whose request is one CSV row and
whose response is one CSV row of scores. Parsing those line by line through the general reader
(a record, a body decoded on its own, a client key, one query at a time) costs more than
judging them, so a block of such lines is read in one pass. Where the compiled loops
(``_kread.c``, built at install) are there, ``capture`` reads the block's bytes straight into
the columns: a strict JSON scanner for the lines orjson surely reads alike (printable ASCII
strings without escapes, the last of repeated keys), the bodies to float32, the scores to
labels and the common ISO time form to seconds, and any other line parsed by orjson in the
same pass. Where it declines a block, and where it is not built, the reference twin reads
it: each line parsed by the line reader's own JSON parser (orjson), the bodies, the caller and
the time taken out of it in one loop, and all the bodies of the block read into one buffer of
doubles (by the compiled ``numbers``, or by simdjson, ``pysimdjson``, reading them as one
JSON array of numbers); the detectors receive arrays.

This path takes a block only when it can vouch that the line-by-line reader
(:mod:`._records`, :mod:`._features`, :mod:`._clients`) would read every line of it the same
way:

- every line is parsed by the line reader's parser (so strict JSON, the last of duplicate keys,
  no byte-order mark, exactly as there), and is a Data Capture record (an object holding a
  ``captureData`` object and an ``eventMetadata`` object) whose input and output (when it has
  an output body) say ``CSV`` (any spelling ``str.upper`` makes ``CSV``, as there);
- every input body is one row of plain JSON numbers, the same count in every line (at least
  two, so that no JSON number in place of the body string passes for a row): comma-separated
  JSON numbers with JSON whitespace around them (no brackets, no newline, no ``nan``, no empty
  value); a number at or past 2**53 sends the block line by line (whole numbers there round
  differently);
- the client is a non-empty string found by ``field:NAME`` or ``inference-id-prefix:SEP`` in
  ``eventMetadata`` (a number or a boolean there, which the line reader turns into text, goes
  line by line), and a time is absent, ``null`` or a string, read by the line reader's own
  :func:`._records.parse_time`.

Anything else (a line of another shape, an undecodable body, a missing client, a blank line)
sends the whole block to the line-by-line reader, which words the errors. Tests run both
readers on the same logs and compare the reports.

(Until December 2026 DuckDB's ``read_json`` took the fields out, after a strict-JSON pass by
simdjson: 3.1 us a record plus 0.04 CPU-s to import and connect it, against about 2 us here.
DuckDB refused a duplicate key where the line reader keeps the last; now both keep the last.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._records import Block, Fast, _loads, parse_time

__all__ = ["FastBatch", "FastReader", "fast_reader"]

_SHAPE = "sagemaker-data-capture"
_MAX_LINE = 16 << 20  # the line reader's limit; a block this long is read line by line
_EXACT = 2.0**53  # whole numbers below this are exact in a double
_PIECE = 256 << 10  # bytes simdjson reads at once (more spills out of the processor's cache)
_TIMES = 1 << 16  # distinct time strings remembered (Data Capture writes whole seconds)
_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class FastBatch:
    """A block's queries in columns: one numeric input each."""

    path: str
    shape: str
    clients: list[str]
    vectors: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]  # -1 where the output gives none
    lines: npt.NDArray[np.int64]
    times: npt.NDArray[np.float64]  # NaN where the record has none

    def __len__(self) -> int:
        """The number of lines (one query each)."""
        return len(self.clients)


def _pieces(data: bytes, separator: bytes) -> list[bytes]:
    """``data`` cut at a ``separator`` after every ``_PIECE`` bytes (separators at the cuts
    dropped); the last piece is empty where ``data`` ends in a separator at a cut (callers
    refuse empty pieces: an empty line or value)."""
    if len(data) <= _PIECE:
        return [data]
    out = []
    at = 0
    while True:
        cut = data.find(separator, at + _PIECE) if len(data) - at > _PIECE else -1
        if cut < 0:
            out.append(data[at:])
            return out
        out.append(data[at:cut])
        at = cut + 1


def _single_labels(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64] | None:
    """The label of a one-number output, as :func:`._features._label` reads a number: a
    whole number outside (0, 1) is a class, a probability in [0, 1] is thresholded at 0.5.
    ``None`` for a class below -1 (the engine reads negative labels as none)."""
    whole = (values == np.floor(values)) & ~((values > 0) & (values < 1))
    if np.any(whole & (values < -1)):
        return None
    prob = (values >= 0) & (values <= 1)
    out = np.where(whole, values, np.where(prob, (values >= 0.5).astype(np.float64), -1.0))
    return out.astype(np.int64)


def _is_csv(encoding: object) -> bool:
    """Whether the line reader decodes a body of this ``encoding`` as CSV (it reads
    ``str(encoding or "BASE64").upper()``; a value that is not a string is refused here)."""
    return type(encoding) is str and (encoding == "CSV" or encoding.upper() == "CSV")


def _kernel() -> Any:
    """The compiled loops (``_kread.c``: ``fields``, ``numbers``), or None (not built, or
    ``MLSTIX_NO_KERNEL`` set)."""
    from mlstix.detect.inference._accel import load

    return load("_kread")


class _Refused(Exception):
    """A line the columnar reader cannot vouch for: the block goes line by line."""


class FastReader:
    """Reads a block of Data Capture lines in columns, or says it cannot (``None``)."""

    def __init__(self, client: tuple[str, str], classifier: bool) -> None:
        self.kind, self.arg = client
        self.classifier = classifier
        self.loads: Callable[[bytes], Any] = _loads()  # the line reader's parser
        self.field = "inferenceId" if self.kind == "inference-id-prefix" else self.arg
        self.times: dict[str, float] = {}
        # the compiled loops (_kread.c); without them the Python loop and simdjson, their twins
        self.kernel = _kernel()
        self.parser: Any = None
        self.array: Any = None
        if self.kernel is None:
            import simdjson

            self.parser = simdjson.Parser()
            self.array = simdjson.Array

    def __call__(self, block: Block, path: str, first_line: int) -> FastBatch | None:
        try:
            return self._read(block, path, first_line)
        except _Refused:
            return None  # the line-by-line reader words why

    def _read(self, block: Block, path: str, first_line: int) -> FastBatch | None:
        if len(block) >= _MAX_LINE:
            return None
        capture = getattr(self.kernel, "capture", None)  # the whole block in C (_kread.c)
        if capture is not None:
            sep = self.arg if self.kind == "inference-id-prefix" else None
            read = capture(block, self.field, sep, self.classifier, self.times, parse_time,
                           self.loads)  # fmt: skip
            if read is not None:
                clients, vectors, width, labels, seconds = read
                count = len(clients)
                return FastBatch(path, _SHAPE, clients,
                                 np.frombuffer(vectors, np.float32).reshape(count, width),
                                 np.frombuffer(labels, np.int64),
                                 np.arange(first_line, first_line + count, dtype=np.int64),
                                 np.frombuffer(seconds, np.float64))  # fmt: skip
        lines = bytes(block).split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        if not lines:
            return None
        clients, inputs, outputs, times = self._fields(lines)
        count = len(lines)
        rows = self._rows(inputs, count)
        if rows is None:
            return None
        if self.classifier:
            labels = self._labels(outputs)
            if labels is None:
                return None
        else:
            labels = np.full(count, -1, np.int64)
        return FastBatch(path, _SHAPE, clients, rows.astype(np.float32), labels,
                         np.arange(first_line, first_line + count, dtype=np.int64),
                         np.array(times, dtype=np.float64))  # fmt: skip

    def _fields(self, lines: list[bytes]) -> tuple[list[str], list[str], list[str], list[float]]:
        """Each line's client, input body, output body ('' for none) and time (NaN for none),
        as the line reader reads them; raises :class:`_Refused` at the first line it cannot
        vouch for."""
        loads, field, classifier = self.loads, self.field, self.classifier
        sep = self.arg if self.kind == "inference-id-prefix" else None
        known = self.times
        compiled = getattr(self.kernel, "fields", None)  # the common case in C (_kread.c)
        if compiled is not None:
            read = compiled(lines, loads, field, sep, classifier, known, parse_time)
            if read is not None:
                return read  # type: ignore[no-any-return]
        clients: list[str] = []
        inputs: list[str] = []
        outputs: list[str] = []
        times: list[float] = []
        client, given, answer, at = clients.append, inputs.append, outputs.append, times.append
        for line in lines:
            try:
                record = loads(line)
            except ValueError:  # (orjson's error is one; a blank line is one)
                raise _Refused from None
            if type(record) is not dict:
                raise _Refused
            capture = record.get("captureData")
            meta = record.get("eventMetadata")
            if type(capture) is not dict or type(meta) is not dict:
                raise _Refused
            request = capture.get("endpointInput")
            if type(request) is not dict:
                raise _Refused
            data = request.get("data")
            encoding = request.get("encoding")
            if type(data) is not str or not (encoding == "CSV" or _is_csv(encoding)):
                raise _Refused
            given(data)
            if classifier:
                response = capture.get("endpointOutput")
                # (the common case inline: a CSV body of scores)
                if (type(response) is dict and type(scores := response.get("data")) is str
                        and scores and response.get("encoding") == "CSV"):  # fmt: skip
                    answer(scores)
                else:
                    answer(self._output(response))
            who = meta.get(field)
            if type(who) is not str:
                raise _Refused
            if sep is not None:
                who, found, _ = who.partition(sep)
                if not found:
                    raise _Refused
            if not who:
                raise _Refused
            client(who)
            when = meta.get("inferenceTime")
            if when is None:
                at(_NAN)
                continue
            if type(when) is not str:
                raise _Refused
            seconds = known.get(when)
            if seconds is None:
                parsed = parse_time(when)
                seconds = _NAN if parsed is None else parsed
                if len(known) >= _TIMES:
                    known.clear()
                known[when] = seconds
            at(seconds)
        return clients, inputs, outputs, times

    @staticmethod
    def _output(response: Any) -> str:
        """The output body ('' for none: no output captured, ``null`` or empty), as the line
        reader reads it; a body that is neither a string nor CSV is refused."""
        if type(response) is not dict:
            return ""
        data = response.get("data")
        if data is None or data == "":
            return ""
        if not _is_csv(response.get("encoding")):
            raise _Refused
        if type(data) is str:
            return data
        if type(data) is int or type(data) is float:  # a number where the body belongs
            return repr(data)  # (read as the one score it is; a bool or a list: refused)
        raise _Refused

    def _array(self, items: bytes, take: Callable[[Any], Any]) -> Any:
        """``take`` of ``items`` read by simdjson as the items of a JSON array, or ``None``
        when they are not JSON or ``take`` refuses them."""
        try:
            doc = self.parser.parse(b"".join((b"[", items, b"]")))
        except (ValueError, RuntimeError):
            return None
        try:
            return take(doc) if isinstance(doc, self.array) else None
        except (ValueError, TypeError):
            return None  # a string, an object or true/false/null among numbers
        finally:
            del doc  # the parser is reused: no document of it may outlive the call

    def _numbers(self, texts: list[str]) -> npt.NDArray[np.float64] | None:
        """The bodies as one flat array of doubles, or ``None`` when they are not all rows
        of plain JSON numbers (brackets would nest, a newline is a second row). A flat array
        of numbers may be cut at any comma: it is read a few hundred KiB at a time."""
        joined = ",".join(texts).encode()
        if b"[" in joined or b"]" in joined or b"\n" in joined:
            return None
        parts = []
        for piece in _pieces(joined, b","):
            buffer = self._array(piece, lambda doc: doc.as_buffer(of_type="d"))
            if buffer is None or not piece:  # (an empty piece: an empty value at a cut)
                return None
            parts.append(np.frombuffer(buffer, dtype=np.float64))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _split(
        self, texts: list[str]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]] | None:
        """Every text's numbers, flat, and how many each text holds (0 for an empty text), or
        ``None`` when a text is not a row of plain JSON numbers below 2**53 (in magnitude)."""
        if self.kernel is not None:
            read = self.kernel.numbers(texts)
            if read is None:
                return None
            values = np.frombuffer(read[0], dtype=np.float64)
            counts = np.frombuffer(read[1], dtype=np.int64)
        else:
            counts = np.fromiter(map(str.count, texts, repeat(",")), np.int64, len(texts)) + 1
            counts[np.fromiter(map(len, texts), np.int64, len(texts)) == 0] = 0
            answered = [text for text in texts if text]
            flat = self._numbers(answered) if answered else np.empty(0)
            if flat is None or len(flat) != int(counts.sum()):
                return None
            values = flat
        if len(values) and not np.abs(values).max() < _EXACT:
            return None
        return values, counts

    def _rows(self, texts: list[str], lines: int) -> npt.NDArray[np.float64] | None:
        """The input rows, every one of the same width (at least 2)."""
        split = self._split(texts)
        if split is None:
            return None
        values, counts = split
        width = int(counts[0]) if len(counts) else 0
        if width < 2 or np.any(counts != width) or len(counts) != lines:
            return None
        return values.reshape(lines, width)

    def _labels(self, texts: list[str]) -> npt.NDArray[np.int64] | None:
        """A label per row, as :func:`._features.decode_labels` reads a CSV output: the
        argmax of several scores (as float32), the rule of :func:`_single_labels` for one,
        none (-1) for none."""
        split = self._split(texts)
        return None if split is None else _labels(*split)


def _labels(
    scores: npt.NDArray[np.float64], counts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64] | None:
    """A label per row from its ``counts`` scores (flat in ``scores``)."""
    out = np.full(len(counts), -1, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    # (set, not np.unique: that imports numpy.ma, a fifth of NumPy's start-up)
    for answers in sorted(set(counts.tolist())):
        if answers == 0:
            continue
        mine = np.flatnonzero(counts == answers)
        table = scores[starts[mine, None] + np.arange(answers)[None, :]]
        if answers == 1:
            single = _single_labels(table[:, 0])
            if single is None:
                return None
            out[mine] = single
        else:
            out[mine] = table.astype(np.float32).argmax(axis=1)
    return out


def fast_reader(spec: str | None, model_type: str) -> Fast | None:
    """The columnar reader for ``--client-key spec``, or ``None`` when the spec needs the
    line-by-line reader (``attr:``, ``json:``, ``join:``, a dotted field)
    or neither the compiled loop nor simdjson is there."""
    kind, _, arg = (spec or "field:client").partition(":")
    kind = kind.strip().lower()
    if kind not in ("field", "inference-id-prefix") or not arg:
        return None
    if kind == "field" and "." in arg:
        return None
    import importlib.util

    # the bodies need the compiled loop or simdjson (the detect extra installs it); without
    # either, every block is read line by line
    if _kernel() is None and importlib.util.find_spec("simdjson") is None:
        return None
    return FastReader((kind, arg), model_type == "classifier")
