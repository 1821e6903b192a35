"""The common case read in columns: SageMaker Data Capture lines with CSV bodies.

Endpoints serving tabular models write Data Capture lines whose request is one CSV row and
whose response is one CSV row of scores. Parsing those line by line in Python (a JSON object,
then a CSV body, then the scores) costs more than judging them, so a block of such lines is
read in bulk: DuckDB's JSON reader (``read_json``) pulls the bodies, the caller and the time
out of every line, and simdjson (``pysimdjson``) reads all the bodies of the block as one JSON
array of numbers straight into a buffer of doubles; the detectors receive arrays.

This path takes a block only when it can vouch that the line-by-line reader
(:mod:`._records`, :mod:`._features`, :mod:`._clients`) would read every line of it the same
way:

- every line is strict JSON (simdjson parses the block; DuckDB alone also takes ``NaN``,
  ``Infinity``, trailing commas and a byte-order mark, which the line reader refuses), and a
  Data Capture record whose input and output (when there is one) say ``CSV``;
- every input body is one row of plain JSON numbers, the same count in every line (at least
  two, so that no JSON number in place of the body string passes for a row): the bodies joined
  with commas must parse as a flat array of numbers (no brackets, no newline, no ``nan``, no
  empty value), and each row's share of it is its commas plus one; a number at or past
  2**53 sends the block line by line (whole numbers there round differently);
- the client is found by ``field:NAME`` or ``inference-id-prefix:SEP`` in a JSON string (the
  field is read as JSON: DuckDB would render a number or a boolean as text, which the line
  reader turns into a client differently), and times are plain ISO 8601.

Anything else (a line of another shape, an undecodable body, a missing client, a blank line)
sends the whole block to the line-by-line reader, which words the errors. Tests run both
readers on the same logs and compare the reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FastBatch", "FastReader", "fast_reader"]

_SHAPE = "sagemaker-data-capture"
_MAX_LINE = 16 << 20  # the line reader's limit; a block this long is read line by line
# ISO 8601 as Python's datetime.fromisoformat reads it (DuckDB also takes 24:00:00 and offsets
# past 23:59, which Python refuses; a day that does not exist fails DuckDB's cast too)
_HOUR_MINUTE = r"([01]\d|2[0-3]):[0-5]\d"
_ISO = rf"\d{{4}}-\d\d-\d\d[T ]{_HOUR_MINUTE}:[0-5]\d(\.\d{{1,6}})?(Z|[+-]{_HOUR_MINUTE})?"
# the spellings that str.upper() turns into CSV (a regular expression would be compiled anew
# for every block)
_CSV = "(" + ", ".join(f"'{a}{b}{c}'" for a in "Cc" for b in "Ss" for c in "Vv") + ")"
_COLUMNS = {
    "captureData": "STRUCT(endpointInput STRUCT(data VARCHAR, encoding VARCHAR), "
    "endpointOutput STRUCT(data VARCHAR, encoding VARCHAR))",
    "eventMetadata": "STRUCT({fields})",
}
_EXACT = 2.0**53  # whole numbers below this are exact in a double
_PIECE = 256 << 10  # bytes simdjson reads at once (more spills out of the processor's cache)


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


def _literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _duckdb() -> ModuleType:
    """DuckDB's engine: ``_duckdb``, the compiled module whose connections ``duckdb``
    re-exports (newer releases), without the relation API that ``import duckdb`` also loads
    (about 0.1 CPU-s, a quarter of this command's start-up); ``duckdb`` where it is not."""
    from importlib import import_module

    try:
        engine = import_module("_duckdb")
    except ModuleNotFoundError:
        return import_module("duckdb")
    if all(hasattr(engine, name) for name in ("connect", "Error", "InterruptException")):
        return engine
    return import_module("duckdb")


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


class FastReader:
    """Reads a block of Data Capture lines in columns, or says it cannot (``None``)."""

    def __init__(self, client: tuple[str, str], classifier: bool) -> None:
        import tempfile

        import simdjson

        duckdb = _duckdb()
        self.kind, self.arg = client
        self.classifier = classifier
        self.con = duckdb.connect(":memory:", config={"threads": 1})
        self.con.execute("SET TimeZone = 'UTC'")
        self.parser = simdjson.Parser()
        self.array = simdjson.Array
        # DuckDB reads each block from a private file (a file-like object would go through
        # fsspec, whose import costs more than the write)
        self.folder = tempfile.TemporaryDirectory(prefix="mlstix-inference-")
        self.blocks = 0
        field = "inferenceId" if self.kind == "inference-id-prefix" else self.arg
        self.field = field
        # the caller's field as JSON, to tell a string from a number DuckDB would render as text
        fields = f'"{field}" JSON, "inferenceTime" VARCHAR'
        columns = dict(_COLUMNS, eventMetadata=_COLUMNS["eventMetadata"].format(fields=fields))
        pairs = ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in columns.items())
        self.columns = "{" + pairs + "}"
        self.error: type[Exception] = duckdb.Error
        self.interrupt: type[Exception] = duckdb.InterruptException
        raw = f'eventMetadata."{field}"'  # fast_reader refuses a quote in the field name
        value = f"({raw} ->> '$')"
        if self.kind == "inference-id-prefix":
            sep = _literal(self.arg)
            who = f"case when contains({value}, {sep}) then split_part({value}, {sep}, 1) end"
        else:
            who = value
        x, y = "captureData.endpointInput", "captureData.endpointOutput"
        y_data = f"nullif({y}.data, '')" if classifier else "null"
        time = "eventMetadata.inferenceTime"
        self.query = f"""
            select {who} as client,
                coalesce(json_type({raw}) <> 'VARCHAR', true) as not_a_string,
                coalesce({x}.data, '') as x,
                coalesce({y_data}, '') as y,
                {x}.data is not null and coalesce({x}.encoding in {_CSV}, false)
                    and ({time} is null or regexp_full_match({time}, '{_ISO}'))
                    and ({y_data} is null or coalesce({y}.encoding in {_CSV}, false))
                    as ok,
                coalesce(epoch(try_cast({time} as timestamptz)), 'nan'::double) as time,
                {time} is not null and try_cast({time} as timestamptz) is null as bad_time
            from read_json("""  # noqa: S608
        self.options = f", format = 'newline_delimited', columns = {self.columns})"

    def __call__(self, block: bytes, path: str, first_line: int) -> FastBatch | None:
        try:
            return self._read(block, path, first_line)
        except self.interrupt:
            raise KeyboardInterrupt from None  # Ctrl-C inside a query: stop, do not read on
        except self.error:
            return None  # a block DuckDB cannot read: the line-by-line reader words why
        except OSError:
            return None  # its file could not be written (a full disk): read line by line

    def _read(self, block: bytes, path: str, first_line: int) -> FastBatch | None:
        lines = self._strict(block) if len(block) < _MAX_LINE else None
        if not lines:
            return None
        rows = self._query(block)
        ok = rows["ok"]
        if len(ok) != lines or not np.all(ok) or np.any(rows["bad_time"]):
            return None
        clients: list[str] = rows["client"].tolist()
        if not all(clients):  # a missing separator or client, or an empty prefix
            return None
        if np.any(rows["not_a_string"]):  # the line reader takes str() of a number: line by line
            return None
        inputs = self._rows(rows["x"].tolist(), lines)
        if inputs is None:
            return None
        labels = self._labels(rows["y"].tolist()) if self.classifier else None
        if labels is None:
            if self.classifier:
                return None
            labels = np.full(lines, -1, np.int64)
        return FastBatch(path, _SHAPE, clients, inputs.astype(np.float32), labels,
                         np.arange(first_line, first_line + lines, dtype=np.int64),
                         np.asarray(rows["time"], dtype=np.float64))  # fmt: skip

    def _query(self, block: bytes) -> dict[str, Any]:
        """The query's columns over the block, read by DuckDB from a file of its own."""
        self.blocks += 1
        path = Path(self.folder.name) / f"{self.blocks}.jsonl"
        path.write_bytes(block)
        try:
            query = self.query + _literal(str(path)) + self.options
            result: dict[str, Any] = self.con.execute(query).fetchnumpy()
        finally:
            path.unlink()
        return result

    def _strict(self, block: bytes) -> int | None:
        """The number of lines of the block, when every one is strict JSON (simdjson reads
        them as JSON arrays of a few hundred KiB of lines each, a size that stays in the
        processor's cache: a blank line, like anything not JSON, fails it)."""
        body = block[:-1] if block.endswith(b"\n") else block
        lines = 0
        for piece in _pieces(body, b"\n"):
            count = self._array(piece.replace(b"\n", b","), lambda doc: len(doc))
            if count is None or not piece:  # (an empty piece: a blank line at a cut)
                return None
            lines += count
        return lines

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
        values = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if len(values) and not np.abs(values).max() < _EXACT:
            return None
        return values

    def _rows(self, texts: list[str], lines: int) -> npt.NDArray[np.float64] | None:
        """The input rows, every one of the same width (at least 2)."""
        width = texts[0].count(",") + 1 if texts else 0
        if width < 2:
            return None
        commas = np.fromiter(map(str.count, texts, repeat(",")), np.int64, len(texts))
        if np.any(commas != width - 1):
            return None
        values = self._numbers(texts)
        if values is None or len(values) != lines * width:
            return None
        return values.reshape(lines, width)

    def _labels(self, texts: list[str]) -> npt.NDArray[np.int64] | None:
        """A label per row, as :func:`._features.decode_labels` reads a CSV output: the
        argmax of several scores (as float32), the rule of :func:`_single_labels` for one,
        none (-1) for none."""
        counts = np.fromiter(map(str.count, texts, repeat(",")), np.int64, len(texts)) + 1
        counts[np.fromiter(map(len, texts), np.int64, len(texts)) == 0] = 0
        answered = [text for text in texts if text]
        scores = self._numbers(answered) if answered else np.empty(0)
        if scores is None or len(scores) != int(counts.sum()):
            return None
        return _labels(scores, counts)


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


def fast_reader(spec: str | None, model_type: str) -> Callable[[bytes, str, int], Any] | None:
    """The columnar reader for ``--client-key spec``, or ``None`` when the spec needs the
    line-by-line reader (``attr:``, ``json:``, ``join:``, a dotted field, the time's field)
    or DuckDB or simdjson is absent."""
    kind, _, arg = (spec or "field:client").partition(":")
    kind = kind.strip().lower()
    if kind not in ("field", "inference-id-prefix") or not arg:
        return None
    if kind == "field" and ("." in arg or '"' in arg or arg == "inferenceTime"):
        return None
    import importlib.util

    # the detect extra installs them all; without them every block is read line by line
    needed = ("duckdb", "simdjson")
    if any(importlib.util.find_spec(name) is None for name in needed):
        return None
    try:
        return FastReader((kind, arg), model_type == "classifier")
    except OSError:  # no private folder for the blocks: read line by line
        return None
