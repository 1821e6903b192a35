"""Inference logs as the clouds write them, read into one :class:`Record` per query.

Shapes (recognized per line, so a folder may mix them):

- **SageMaker Data Capture** (JSON lines under the endpoint config's ``DestinationS3Uri``):
  ``captureData.endpointInput``/``endpointOutput`` each with ``observedContentType``, ``mode``,
  ``data`` and ``encoding`` (``CSV``, ``JSON`` or ``BASE64``), and ``eventMetadata`` with
  ``eventId``, ``inferenceTime`` and, when the caller passed ``InferenceId``, ``inferenceId``.
- **Azure Machine Learning data collector** (JSON lines in the workspace blob store, one
  CloudEvents-style object per line): ``type`` ``azureml.inference.model_inputs`` /
  ``azureml.inference.model_outputs`` (custom logging) or ``azureml.inference.request`` /
  ``.response`` (payload logging), ``time``, ``data``, and ``correlationid``/``xrequestid``,
  which join an input with its output.
- **Vertex AI request-response logging** (rows of the BigQuery table exported as JSON lines):
  ``endpoint``, ``deployed_model_id``, ``logging_time``, ``request_id``, ``request_payload`` and
  ``response_payload`` (repeated strings, one per instance).
- **Plain**: ``{"client": ..., "time": ..., "input": ..., "output": ...}`` for anything else.

Files may be gzip-compressed. Nothing here decodes bodies into features (:mod:`._features`
does); a record keeps the body as the log holds it.
"""

from __future__ import annotations

import io
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from mlstix.detect.inference._lines import Block, blocks
from mlstix.errors import UsageError

__all__ = ["Block", "Body", "LogProblem", "Record", "log_files", "read_log", "read_logs"]

_MAX_LINE = 16 << 20  # a captured request above this is not a query we judge
_MAX_PENDING = 200_000  # Azure inputs waiting for their outputs (and the reverse)


@dataclass(frozen=True, slots=True)
class Body:
    """A request or response body as logged: ``encoding`` is ``CSV``, ``JSON``, ``BASE64``,
    ``TEXT`` or ``OBJECT`` (already-parsed JSON)."""

    data: Any
    encoding: str
    content_type: str = ""


@dataclass(slots=True)
class Record:
    """One logged inference request (a batch request yields one record per instance)."""

    path: str
    line: int
    shape: str
    time: float | None
    input: Body
    output: Body | None
    meta: dict[str, Any] = field(default_factory=dict)
    instance: int | None = None  # index inside a batch request, when it is one


@dataclass(frozen=True, slots=True)
class LogProblem:
    """A line that could not be read as any known shape."""

    path: str
    line: int
    message: str


def _open(path: Path) -> IO[bytes]:
    raw = path.open("rb")
    if raw.read(2) == b"\x1f\x8b":
        import gzip  # (only for a gzipped log)

        raw.seek(0)
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    raw.seek(0)
    return raw


def parse_time(value: object) -> float | None:
    """Epoch seconds from an ISO 8601 string (``Z``, offsets, BigQuery's `` UTC``) or a
    number; ``None`` when absent or unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _loads() -> Any:
    try:
        import orjson

        return orjson.loads
    except ModuleNotFoundError:  # optional speed-up
        return json.loads


def _sagemaker(obj: dict[str, Any], path: str, line: int) -> Iterator[Record]:
    capture = obj["captureData"]
    if not isinstance(capture, dict):
        raise ValueError("captureData is not an object")
    inp = capture.get("endpointInput")
    if not isinstance(inp, dict) or "data" not in inp:
        raise ValueError("captureData.endpointInput.data is missing (output-only capture?)")
    out = capture.get("endpointOutput")
    meta = obj.get("eventMetadata")
    meta = dict(meta) if isinstance(meta, dict) else {}
    yield Record(
        path,
        line,
        "sagemaker-data-capture",
        parse_time(meta.get("inferenceTime")),
        _capture_body(inp),
        _capture_body(out) if isinstance(out, dict) and "data" in out else None,
        meta,
    )


def _capture_body(part: dict[str, Any]) -> Body:
    encoding = str(part.get("encoding") or "BASE64").upper()
    return Body(part.get("data"), encoding, str(part.get("observedContentType") or ""))


_AZURE_INPUTS = ("model_inputs", "request")
_AZURE_OUTPUTS = ("model_outputs", "response")


class _AzureJoin:
    """Pairs Azure ML inputs with outputs by ``correlationid`` (they sit in separate files),
    holding a bounded number of unpaired halves; an input whose output never comes is judged
    without one."""

    def __init__(self) -> None:
        self.inputs: OrderedDict[str, Record] = OrderedDict()
        self.outputs: OrderedDict[str, Body] = OrderedDict()

    def add(self, obj: dict[str, Any], path: str, line: int) -> Iterator[Record]:
        kind = str(obj.get("type", "")).rsplit(".", 1)[-1]
        key = str(obj.get("correlationid") or obj.get("xrequestid") or obj.get("id") or "")
        body = Body(obj.get("data"), "OBJECT", str(obj.get("datacontenttype") or ""))
        if kind in _AZURE_OUTPUTS:
            pending = self.inputs.pop(key, None) if key else None
            if pending is not None:
                pending.output = body
                yield pending
            elif key:
                self.outputs[key] = body
                if len(self.outputs) > _MAX_PENDING:
                    self.outputs.popitem(last=False)
            return
        if kind not in _AZURE_INPUTS:
            raise ValueError(f"Azure ML collection type {obj.get('type')!r} is not model input")
        meta = {k: v for k, v in obj.items() if k != "data"}
        record = Record(path, line, "azureml-data-collector", parse_time(obj.get("time")), body,
                        self.outputs.pop(key, None) if key else None, meta)  # fmt: skip
        if record.output is not None or not key:
            yield record
            return
        self.inputs[key] = record
        if len(self.inputs) > _MAX_PENDING:
            yield self.inputs.popitem(last=False)[1]

    def flush(self) -> Iterator[Record]:
        yield from self.inputs.values()
        self.inputs.clear()


def _payload(value: Any) -> Body:
    return Body(value, "JSON" if isinstance(value, str) else "OBJECT")


def _vertex(obj: dict[str, Any], path: str, line: int) -> Iterator[Record]:
    requests = obj["request_payload"]
    responses = obj.get("response_payload")
    if isinstance(requests, str):
        requests = [requests]
    if not isinstance(requests, list):
        raise ValueError("request_payload is neither a string nor a list")
    if isinstance(responses, str):
        responses = [responses]
    if not isinstance(responses, list):
        responses = []
    meta = {k: v for k, v in obj.items() if k not in ("request_payload", "response_payload")}
    when = parse_time(obj.get("logging_time"))
    many = len(requests) > 1
    for index, request in enumerate(requests):
        response = responses[index] if index < len(responses) else None
        yield Record(
            path,
            line,
            "vertex-request-response",
            when,
            _payload(request),
            None if response is None else _payload(response),
            meta,
            index if many else None,
        )


def _plain(obj: dict[str, Any], path: str, line: int) -> Iterator[Record]:
    meta = {k: v for k, v in obj.items() if k not in ("input", "output")}
    out = obj.get("output")
    yield Record(
        path,
        line,
        "jsonl",
        parse_time(obj.get("time")),
        Body(obj["input"], "OBJECT"),
        None if out is None else Body(out, "OBJECT"),
        meta,
    )


def log_files(paths: Iterable[str]) -> list[tuple[Path, str]]:
    """The files under ``paths`` (files, or folders read recursively, hidden names left out),
    each with the name it is shown by; raises :class:`~mlstix.errors.UsageError` for a
    missing path or when there is nothing to read."""
    out: list[tuple[Path, str]] = []
    paths = list(paths)
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        full = Path(root) / name
                        out.append((full, str(full)))
        elif path.exists():
            out.append((path, raw))
        else:
            raise UsageError(f"{raw}: no such file or directory")
    if not out:
        raise UsageError(f"nothing to read: no log files in {', '.join(paths)}")
    return out


Fast = Callable[[Block, str, int], Any]
"""A columnar reader tried on each block of whole lines (``block``, display name, number of
its first line): it returns what it read (its ``len()`` the number of lines it took, all of
them), or ``None`` to have the block read line by line. The block is only valid during the
call (its memory is reused for the next one): a reader keeps nothing that points into it."""

_BLOCK = 8 << 20  # bytes read at a time (whole lines; a block is under _MAX_LINE unless a line is)


def read_logs(
    files: Iterable[tuple[Path, str]], fast: Fast | None = None
) -> Iterator[Record | LogProblem | Any]:
    """Every record of the files (``(path, display name)``), in order, and a
    :class:`LogProblem` for each line that is no known shape or file that cannot be read. Azure
    ML inputs are paired with outputs across files (the collector writes them apart). With
    ``fast``, a block of lines it reads is yielded as it returned it, in its place."""
    join = _AzureJoin()
    for path, display in files:
        try:
            yield from _read_one(path, display, join, fast)
        except io.UnsupportedOperation:  # (an OSError) a FIFO or pipe: the reader seeks
            yield LogProblem(display, 0, "a pipe or FIFO, not a regular file: not read")
        except OSError as exc:
            yield LogProblem(display, 0, f"cannot read: {exc.strerror or exc}")
    yield from join.flush()


def read_log(path: Path, display: str) -> Iterator[Record | LogProblem]:
    """:func:`read_logs` of one file."""
    return read_logs([(path, display)])


def _read_one(
    path: Path, display: str, join: _AzureJoin, fast: Fast | None
) -> Iterator[Record | LogProblem | Any]:
    loads = _loads()
    number = 0
    with _open(path) as stream:
        for block, error in blocks(stream, _BLOCK):
            if error is not None:
                yield LogProblem(display, 0, f"the file ends early or is damaged: {error}")
                return
            read = fast(block, display, number + 1) if fast is not None else None
            if read is not None:
                number += len(read)
                yield read
                continue
            lines = bytes(block).split(b"\n")
            if lines[-1] == b"":
                lines.pop()
            for line in lines:
                number += 1
                yield from _parse_line(line, display, number, join, loads)


def _parse_line(
    line: bytes, display: str, number: int, join: _AzureJoin, loads: Callable[[bytes], Any]
) -> Iterator[Record | LogProblem]:
    if len(line) + 1 > _MAX_LINE:
        yield LogProblem(display, number, f"line longer than {_MAX_LINE} bytes")
        return
    if not line.strip():
        return
    try:
        obj = loads(line)
    except ValueError as exc:
        yield LogProblem(display, number, f"not JSON ({str(exc)[:80]})")
        return
    if not isinstance(obj, dict):
        yield LogProblem(display, number, "a JSON line that is not an object")
        return
    try:
        if "captureData" in obj:
            yield from _sagemaker(obj, display, number)
        elif "specversion" in obj and str(obj.get("type", "")).startswith("azureml.inference."):
            yield from join.add(obj, display, number)
        elif "request_payload" in obj:
            yield from _vertex(obj, display, number)
        elif "input" in obj:
            yield from _plain(obj, display, number)
        else:
            yield LogProblem(
                display,
                number,
                "not an inference record (no captureData, Azure ML collector "
                "type, request_payload or input)",
            )
    except (KeyError, TypeError, ValueError) as exc:
        yield LogProblem(display, number, f"malformed record: {exc}")
