"""The common case read in columns: SageMaker Data Capture lines with CSV bodies.

Endpoints serving tabular models write Data Capture lines whose request is one CSV row and
whose response is one CSV row of scores. Parsing those line by line in Python (a JSON object,
then a CSV body, then the scores) costs more than judging them, so a block of such lines is
handed to DuckDB's JSON reader (``read_json``) and its bodies split and cast to numbers there;
the detectors receive arrays.

This path takes a block only when it can vouch that the line-by-line reader
(:mod:`._records`, :mod:`._features`, :mod:`._clients`) would read every line of it the same
way: every line a Data Capture record, every body a string of plain numbers (no ``nan``, no
spaces, no second row), the client found by ``field:NAME`` or ``inference-id-prefix:SEP`` as a
string, times in plain ISO 8601. Anything else (a line of another shape, an undecodable body,
a missing client, a blank line) sends the whole block to the line-by-line reader, which words
the errors. A test runs both readers on the same logs and compares the findings.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FastBatch", "FastReader", "fast_reader"]

_SHAPE = "sagemaker-data-capture"
# DuckDB reads "+-1" as -1, Python refuses it
_NO_SIGNS = "not (contains({0}, '+-') or contains({0}, '-+'))"
# ISO 8601 as Python's datetime.fromisoformat reads it (DuckDB also takes 24:00:00 and offsets
# past 23:59, which Python refuses; a day that does not exist fails DuckDB's cast too)
_HOUR_MINUTE = r"([01]\d|2[0-3]):[0-5]\d"
_ISO = rf"\d{{4}}-\d\d-\d\d[T ]{_HOUR_MINUTE}:[0-5]\d(\.\d{{1,6}})?(Z|[+-]{_HOUR_MINUTE})?"
_COLUMNS = {
    "captureData": "STRUCT(endpointInput STRUCT(data VARCHAR, encoding VARCHAR), "
    "endpointOutput STRUCT(data VARCHAR, encoding VARCHAR))",
    "eventMetadata": "STRUCT({fields})",
}


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


def _single_labels(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64] | None:
    """The label of a one-number output, as :func:`._features._label` reads a number: a
    whole number outside (0, 1) is a class, a probability in [0, 1] is thresholded at 0.5."""
    if np.any(np.abs(values) > 2.0**62):
        return None
    whole = (values == np.floor(values)) & ~((values > 0) & (values < 1))
    prob = (values >= 0) & (values <= 1)
    out = np.where(whole, values, np.where(prob, (values >= 0.5).astype(np.float64), -1.0))
    return out.astype(np.int64)


class FastReader:
    """Reads a block of Data Capture lines in columns, or says it cannot (``None``)."""

    def __init__(self, client: tuple[str, str], classifier: bool) -> None:
        import duckdb

        self.kind, self.arg = client
        self.classifier = classifier
        self.con = duckdb.connect(config={"threads": 1})
        self.con.execute("SET TimeZone = 'UTC'")
        field = "inferenceId" if self.kind == "inference-id-prefix" else self.arg
        self.field = field
        names = sorted({field, "inferenceTime"})
        fields = ", ".join(f'"{name}" VARCHAR' for name in names)
        self.columns = dict(_COLUMNS, eventMetadata=_COLUMNS["eventMetadata"].format(fields=fields))
        self.error: type[Exception] = duckdb.Error
        self.interrupt: type[Exception] = duckdb.InterruptException
        # the field name is the user's --client-key, quoted (fast_reader refuses a quote in it)
        self.load = f"""
            create or replace temp table blk as select
                eventMetadata."{field}" as client,
                eventMetadata.inferenceTime as time,
                captureData.endpointInput.data as x,
                captureData.endpointInput.encoding as x_encoding,
                captureData.endpointOutput.data as y,
                captureData.endpointOutput.encoding as y_encoding
            from block"""  # noqa: S608
        y = "y" if classifier else "null"
        self.rows = f"""
            select client,
                x is not null and upper(x_encoding) = 'CSV' and {_NO_SIGNS.format("x")}
                    and (time is null or regexp_full_match(time, '{_ISO}'))
                    and ({y} is null or (upper(coalesce(y_encoding, '')) = 'CSV'
                         and {_NO_SIGNS.format("y")} and not contains(y, chr(10))))
                    as ok,
                epoch(try_cast(time as timestamptz)) as time,
                time is not null as timed,
                y is not null as answered
            from blk"""  # noqa: S608
        # each row as [number of inputs, inputs..., number of scores, scores...]
        self.values = f"""
            select unnest(list_concat([len(xs)::double], xs, [coalesce(len(ys), 0)::double],
                                      coalesce(ys, []))) as v
            from (select try_cast(string_split(x, ',') as double[]) as xs,
                         try_cast(string_split({y}, ',') as double[]) as ys from blk)"""  # noqa: S608
        self.keys = [f'"{name}":"'.encode() for name in ("data", field, "inferenceTime")]

    def __call__(self, block: bytes, path: str, first_line: int) -> FastBatch | None:
        lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        try:
            return self._read(block, path, first_line, lines)
        except self.interrupt:
            raise KeyboardInterrupt from None  # Ctrl-C inside a query: stop, do not read on
        except self.error:
            return None  # a block DuckDB cannot read: the line-by-line reader words why

    def _read(self, block: bytes, path: str, first_line: int, lines: int) -> FastBatch | None:
        rel = self.con.read_json(io.BytesIO(block), format="newline_delimited",
                                 columns=self.columns)  # fmt: skip
        rel.query("block", self.load)
        rows = self.con.sql(self.rows).fetchnumpy()
        ok = rows["ok"]
        if len(ok) != lines or np.ma.is_masked(ok) or not np.all(ok):
            return None
        timed = np.asarray(rows["timed"], dtype=np.bool_)
        # every data, client and time value must have been a JSON string: a number there is
        # read as text by a VARCHAR column, but refused by the line-by-line reader
        answered = int(np.count_nonzero(np.asarray(rows["answered"], dtype=np.bool_)))
        expected = (lines + answered, lines, int(timed.sum()))
        if any(block.count(k) != n for k, n in zip(self.keys, expected, strict=True)):
            return None
        clients = self._clients(rows["client"])
        if clients is None or np.any(np.ma.getmaskarray(rows["time"]) & timed):
            return None
        flat = self.con.sql(self.values).fetchnumpy()["v"]
        if np.ma.is_masked(flat):
            return None
        values = np.asarray(flat, dtype=np.float64)
        # not finite: the line reader refuses the body. 2**53 and beyond: a row of whole
        # numbers there goes int64 -> float32 in the line reader, double -> float32 here
        if not np.isfinite(values).all() or np.any(np.abs(values) >= 2.0**53):
            return None
        table = _table(values, lines)
        if table is None:
            return None
        vectors, counts, scores = table
        labels = _labels(scores, counts) if self.classifier else np.full(lines, -1, np.int64)
        if labels is None:
            return None
        times = np.ma.filled(np.ma.asarray(rows["time"], dtype=np.float64), np.nan)
        return FastBatch(path, _SHAPE, clients, vectors.astype(np.float32), labels,
                         np.arange(first_line, first_line + lines, dtype=np.int64),
                         times)  # fmt: skip

    def _clients(self, column: Any) -> list[str] | None:
        if np.ma.is_masked(column):
            return None
        names: list[str] = column.tolist()
        if self.kind == "field":
            return names if all(names) else None
        sep = self.arg
        out = [name.split(sep, 1)[0] for name in names]
        if not all(out) or not all(sep in name for name in names):
            return None
        return out


def _labels(
    scores: npt.NDArray[np.float64], counts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64] | None:
    """A label per row from its ``counts`` scores (flat in ``scores``), as
    :func:`._features.decode_labels` reads a CSV output: the argmax of several scores (as
    float32), the rule of :func:`_single_labels` for one, none (-1) for none."""
    out = np.full(len(counts), -1, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    for answers in np.unique(counts).tolist():
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


def _table(
    flat: npt.NDArray[np.float64], rows: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
    """The rows ``[n, n inputs, m, m scores]`` as inputs (a table: every row must have the first
    row's ``n``), the ``m`` of each row and its scores, flat (``None``: the block is read line
    by line)."""
    if not rows or not len(flat):
        return None
    width = int(flat[0])
    if width < 1 or len(flat) < 2 + width:
        return None
    answers = int(flat[1 + width])
    size = 2 + width + answers
    if len(flat) == rows * size:
        table = flat.reshape(rows, size)
        if np.all(table[:, 0] == width) and np.all(table[:, 1 + width] == answers):
            return table[:, 1 : 1 + width], np.full(rows, answers), table[:, 2 + width :].ravel()
    # outputs of different lengths (the scores of some requests not captured): walk the rows
    counts = np.empty(rows, dtype=np.int64)
    starts = np.empty(rows, dtype=np.int64)
    at = 0
    for row in range(rows):
        if at + 2 + width > len(flat) or flat[at] != width:
            return None
        starts[row] = at
        counts[row] = int(flat[at + 1 + width])
        at += 2 + width + int(counts[row])
    if at != len(flat):
        return None
    inputs = flat[(starts[:, None] + np.arange(1, 1 + width)[None, :])]
    lengths = 2 + width + counts
    position = np.arange(len(flat)) - np.repeat(starts, lengths)
    scores = flat[position >= 2 + width]
    return inputs, counts, scores


def fast_reader(spec: str | None, model_type: str) -> Callable[[bytes, str, int], Any] | None:
    """The columnar reader for ``--client-key spec``, or ``None`` when the spec needs the
    line-by-line reader (``attr:``, ``json:``, ``join:``, a dotted field) or DuckDB or fsspec
    is absent."""
    kind, _, arg = (spec or "field:client").partition(":")
    kind = kind.strip().lower()
    if kind not in ("field", "inference-id-prefix") or not arg:
        return None
    if kind == "field" and ("." in arg or '"' in arg):
        return None
    import importlib.util

    # DuckDB reads an in-memory block through fsspec's memory filesystem (the detect extra
    # installs both); without them every block is read line by line
    if importlib.util.find_spec("duckdb") is None or importlib.util.find_spec("fsspec") is None:
        return None
    return FastReader((kind, arg), model_type == "classifier")
