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
_NUMBERS = r"[0-9eE.+-]+(,[0-9eE.+-]+)*"
_ISO = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)?"
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
        self.keys = [f'"{name}":'.encode() for name in ("data", field, "inferenceTime")]
        self.error: type[Exception] = duckdb.Error
        # the field name is the user's --client-key, quoted (fast_reader refuses a quote in it)
        self.query = f"""
            select eventMetadata."{field}" as client,
                captureData.endpointInput.data is not null
                    and upper(captureData.endpointInput.encoding) = 'CSV'
                    and regexp_full_match(captureData.endpointInput.data, '{_NUMBERS}')
                    and (eventMetadata.inferenceTime is null
                         or regexp_full_match(eventMetadata.inferenceTime, '{_ISO}'))
                    and (captureData.endpointOutput.data is null or (
                         upper(coalesce(captureData.endpointOutput.encoding, '')) = 'CSV'
                         and regexp_full_match(captureData.endpointOutput.data, '{_NUMBERS}')))
                    as ok,
                epoch(cast(eventMetadata.inferenceTime as timestamptz)) as time,
                try_cast(string_split(captureData.endpointInput.data, ',') as double[]) as x,
                try_cast(string_split(captureData.endpointOutput.data, ',') as double[]) as y
            from block"""  # noqa: S608

    def _strings_only(self, block: bytes) -> bool:
        """Whether every ``data``, client and time value in the block is a JSON string (a number
        there is read as text by a VARCHAR column, but refused by the line-by-line reader)."""
        return all(block.count(key) == block.count(key + b'"') for key in self.keys)

    def __call__(self, block: bytes, path: str, first_line: int) -> FastBatch | None:
        lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        if block.count(b"captureData") < lines or not self._strings_only(block):
            return None
        try:
            return self._read(block, path, first_line, lines)
        except self.error:
            return None

    def _read(self, block: bytes, path: str, first_line: int, lines: int) -> FastBatch | None:
        rel = self.con.read_json(io.BytesIO(block), format="newline_delimited",
                                 columns=self.columns)  # fmt: skip
        result = rel.query("block", self.query)
        if result is None:  # pragma: no cover - a select always returns rows
            return None
        cols = result.fetchnumpy()
        ok = cols["ok"]
        if len(ok) != lines or np.ma.is_masked(ok) or not np.all(ok):
            return None
        clients = self._clients(cols["client"])
        if clients is None:
            return None
        vectors = self._matrix(cols["x"])
        if vectors is None or not np.isfinite(vectors).all():
            return None
        labels = self._labels(cols["y"]) if self.classifier else np.full(lines, -1, np.int64)
        if labels is None:
            return None
        times = np.ma.filled(np.ma.asarray(cols["time"], dtype=np.float64), np.nan)
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

    @staticmethod
    def _matrix(column: Any) -> npt.NDArray[np.float64] | None:
        if np.ma.is_masked(column):
            return None
        rows = column.tolist()
        width = len(rows[0]) if rows else 0
        if not width or any(r is None or len(r) != width for r in rows):
            return None
        return np.asarray(np.concatenate(rows), dtype=np.float64).reshape(len(rows), width)

    def _labels(self, column: Any) -> npt.NDArray[np.int64] | None:
        present = ~np.ma.getmaskarray(column)
        out = np.full(len(column), -1, dtype=np.int64)
        if not present.any():
            return out
        scores = self._matrix(np.asarray(column)[present])
        if scores is None or not np.isfinite(scores).all():
            return None
        if scores.shape[1] == 1:
            single = _single_labels(scores[:, 0])
            if single is None:
                return None
            out[present] = single
        else:  # the label is the argmax of the scores as float32, as the line reader has it
            out[present] = scores.astype(np.float32).argmax(axis=1)
        return out


def fast_reader(spec: str | None, model_type: str) -> Callable[[bytes, str, int], Any] | None:
    """The columnar reader for ``--client-key spec``, or ``None`` when the spec needs the
    line-by-line reader (``attr:``, ``json:``, ``join:``, a dotted field) or DuckDB is absent."""
    kind, _, arg = (spec or "field:client").partition(":")
    kind = kind.strip().lower()
    if kind not in ("field", "inference-id-prefix") or not arg:
        return None
    if kind == "field" and ("." in arg or '"' in arg):
        return None
    try:
        return FastReader((kind, arg), model_type == "classifier")
    except ModuleNotFoundError:  # pragma: no cover - duckdb is in the detect extra
        return None
