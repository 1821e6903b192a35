"""Run Sigma rules over audit-log files with DuckDB: one SQL scan per file, every rule at once.

Why DuckDB (and not SQLite, the other embedded engine pySigma targets): DuckDB reads gzip and
JSON itself (``read_json_objects``: JSON lines, arrays and whole documents), extracts every field
the rules need in one parse per event (``json_extract_string`` with a list of paths), and streams,
so a file is never loaded into Python; its matches are fetched as they stream, and a file adds at
most so many findings per rule and so many errors to the report (:mod:`._limits`). With SQLite
every event would have to be parsed in Python and inserted first, which costs more than the
matching itself (measured in ``benchmarks/detect.py``).

A file DuckDB cannot read whole (a truncated gzip, a malformed line, a record that is not an
object) is read again in Python by :mod:`._salvage`, which records an error for each bad line with
its number, keeps the good records and gives them to the same query. Records without the fields
every event of their source has (``eventTime``/``eventSource``/``eventName`` for CloudTrail …)
are errors too, never silently skipped.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson

from mlstix.detect.logs._evidence import finding_of
from mlstix.detect.logs._limits import MAX_FINDINGS_PER_RULE, Problems, Row, Tally, build
from mlstix.detect.logs._rules import Plan
from mlstix.detect.logs._salvage import line_numbers, salvage
from mlstix.detect.logs._shapes import EmptyLog, Shape, sniff
from mlstix.findings.model import Finding, ScanError, ScannedFile
from mlstix.kb.graph import KnowledgeBase

__all__ = ["FileResult", "collect", "scan_files"]

# DuckDB's maximum_object_size (default 16 MB): a whole CloudTrail or Azure records document, or
# one event of JSON lines and arrays. DuckDB holds a document whole (a 512 MiB one took 690 MiB),
# so a larger document fails over to the salvage path, which parses it as it inflates (up to
# _salvage.MAX_DOCUMENT decompressed) and keeps only its records
_MAX_DOCUMENT = 64 * 1024 * 1024
_MAX_OBJECT = 64 * 1024 * 1024  # one record the salvage path re-encoded (its own line limit)
# one event of JSON lines or arrays as DuckDB reads it (DuckDB's default); it buffers several
# times this, so a longer line (a bomb of zeros: 346 MiB at 64 MiB) goes to the salvage path
_MAX_EVENT = 16 * 1024 * 1024
_SUFFIXES = (".json", ".jsonl", ".ndjson", ".log", ".gz")
_BATCH = 2048  # rows fetched from DuckDB at a time


@dataclass
class FileResult:
    scanned: ScannedFile | None = None
    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)


def collect(paths: Iterable[Path]) -> tuple[list[Path], list[ScanError]]:
    """The files to read: given files as they are, folders walked for log files.

    CloudTrail digest files (``CloudTrail-Digest/``) hold hashes, not events, and are skipped.
    """
    files: list[Path] = []
    errors: list[ScanError] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d != "CloudTrail-Digest")
                files.extend(Path(root, n) for n in sorted(names) if n.lower().endswith(_SUFFIXES))
        elif path.is_file():
            files.append(path)
        elif path.exists():
            errors.append(ScanError(str(path), "not a regular file or folder"))
        else:
            errors.append(ScanError(str(path), "no such file or folder"))
    return files, errors


def _literal(text: str) -> str:
    """A SQL string literal: file names and JSON paths reach SQL only through this."""
    return "'" + text.replace("'", "''") + "'"


def _source_sql(shape: Shape, file: str, container: str | None = None) -> str:
    container = container or shape.container
    size = _MAX_DOCUMENT if container == "document" else _MAX_EVENT
    opts = f"compression='{shape.compression}', maximum_object_size={size}"
    envelope = shape.envelope if container != "salvaged" else None
    ev = f"json_extract(json, '$.\"{envelope}\"')" if envelope else "json"
    if container == "document":
        return (
            "SELECT generate_subscripts(r, 1) AS rec, unnest(r) AS ev FROM ("  # noqa: S608
            f"SELECT json_extract(json, '$.\"{shape.records_key}\"[*]') AS r "
            f"FROM read_json_objects({_literal(file)}, format='unstructured', {opts}))"
        )
    fmt = "array" if container == "array" else "newline_delimited"
    if container == "salvaged":
        opts = f"compression='none', maximum_object_size={_MAX_OBJECT}"
    return (
        f"SELECT ordinality AS rec, {ev} AS ev FROM "  # noqa: S608
        f"read_json_objects({_literal(file)}, format='{fmt}', {opts}) WITH ORDINALITY"
    )


def _query(plan: Plan, source_sql: str, window: tuple[datetime | None, datetime | None]) -> str:
    src = plan.source
    time = f"TRY_CAST({plan.slot(src.time)} AS TIMESTAMPTZ)"
    missing = " OR ".join([*(f"{plan.slot(r)} IS NULL" for r in src.required), f"{time} IS NULL"])
    since, until = window
    conds = [f"({sql})" for _, sql in plan.rules] or ["false"]
    match = " OR ".join(conds)
    if since is not None:
        match = f"({match}) AND {time} >= TIMESTAMPTZ {_literal(since.isoformat())}"
    if until is not None:
        match = f"({match}) AND {time} < TIMESTAMPTZ {_literal(until.isoformat())}"
    hits = ", ".join(f"CASE WHEN {c} THEN {i} END" for i, c in enumerate(conds))
    paths = ", ".join(_literal(p) for p in plan.paths)
    # Rule conditions come from pySigma, which quotes and escapes every value; fields are slots.
    return (
        f"SELECT rec, ev::VARCHAR, [{hits}], ({missing}) FROM ("  # noqa: S608
        f"SELECT rec, ev, json_extract_string(ev, [{paths}]) AS f FROM ({source_sql})) "
        f"WHERE ({missing}) OR ({match})"
    )


class _Runner:
    def __init__(
        self, kb: KnowledgeBase, plans: dict[str, Plan], window: Any, jobs: int, cap: int
    ) -> None:
        self.kb = kb
        self.plans = plans
        self.window = window
        self.cap = cap
        self.con = duckdb.connect(config={"threads": max(1, jobs)})
        self.local = threading.local()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self.local, "cursor", None)
        if cur is None:
            cur = self.local.cursor = self.con.cursor()
        return cur

    def rows(self, plan: Plan, sql: str) -> Iterator[Row]:
        """The query's rows as DuckDB streams them (never the whole result at once)."""
        result = self.cursor().execute(_query(plan, sql, self.window))
        while batch := result.fetchmany(_BATCH):
            yield from batch

    def tally(self, plan: Plan, sql: str, problems: Problems) -> Tally:
        tally = Tally(len(plan.rules), self.cap, problems)
        for row in self.rows(plan, sql):
            tally.add(row)
        return tally

    def scan(self, path: Path, name: str | None = None) -> FileResult:
        """The findings and errors of one file, reported under ``name`` (default: its path)."""
        result = FileResult()
        name = name or str(path)
        try:
            shape = sniff(path)
        except EmptyLog:
            result.scanned = ScannedFile(name, "empty")
            return result
        except (OSError, ValueError) as exc:
            result.errors.append(ScanError(name, f"line 1: {exc}"))
            return result
        result.scanned = ScannedFile(name, shape.name)
        plan = self.plans.get(shape.source.key)
        if plan is None:
            return result  # no rule reads this source
        document = shape.container == "document"
        problems = Problems()
        try:
            tally = self.tally(plan, _source_sql(shape, name), problems)
            locations: Sequence[int] | dict[int, int] | None = None
            wanted = tally.records()
            if wanted and shape.container == "lines":
                # DuckDB numbers records and skips blank lines: map to true line numbers
                locations = line_numbers(path, shape, wanted)
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None  # Ctrl-C inside a query: stop, do not salvage
        except duckdb.Error:
            problems = Problems()
            try:
                locations, tally = self._salvaged(plan, shape, path, problems)
            except duckdb.Error as exc:  # the engine refused even the salvaged records
                problems.append(f"cannot evaluate the rules: {exc}")
                result.errors.extend(ScanError(name, msg) for msg in problems.messages())
                return result

        def place(rec: int) -> str:
            return f"{'record' if document else 'line'} {_at(locations, rec)}"

        for rec, raw in tally.missing:
            problems.items.append(_missing(plan, raw, place(rec)))
        result.errors.extend(ScanError(name, msg) for msg in problems.messages())

        def make(index: int, raw: str, rec: int) -> Finding:
            rule = plan.rules[index][0]
            event = orjson.loads(raw)
            where = _at(locations, rec)
            return finding_of(self.kb, rule.meta, plan.source, event, name, where, document)

        result.findings.extend(build(make, tally))
        return result

    def _salvaged(
        self, plan: Plan, shape: Shape, path: Path, problems: Problems
    ) -> tuple[Sequence[int], Tally]:
        """Salvage a file the fast path refused: its good records go to a temporary file of JSON
        lines, which the same query reads."""
        fd, tmp = tempfile.mkstemp(suffix=".ndjson", prefix="mlstix-detect-")
        try:
            with os.fdopen(fd, "wb") as out:
                locations = salvage(path, shape, out, problems)
            if not locations:
                return locations, Tally(len(plan.rules), self.cap, problems)
            return locations, self.tally(plan, _source_sql(shape, tmp, "salvaged"), problems)
        finally:
            Path(tmp).unlink(missing_ok=True)


def _at(locations: Sequence[int] | dict[int, int] | None, rec: int) -> int:
    if locations is None:
        return rec
    if isinstance(locations, dict):
        return locations.get(rec, rec)
    return locations[rec - 1]


def _missing(plan: Plan, raw: str, place: str) -> str:
    src = plan.source
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        event = None
    if not isinstance(event, dict):
        return f"{place}: not a JSON object"
    from mlstix.detect.logs._evidence import lookup

    absent = [f for f in (*src.required, src.time) if lookup(event, f) is None]
    if absent:
        return f"{place}: a {src.key} record without {', '.join(dict.fromkeys(absent))}"
    return f"{place}: {src.time} {lookup(event, src.time)!r} is not an ISO 8601 timestamp"


def scan_files(
    kb: KnowledgeBase,
    plans: dict[str, Plan],
    files: Sequence[Path],
    window: tuple[datetime | None, datetime | None],
    jobs: int,
    cap: int = MAX_FINDINGS_PER_RULE,
    names: dict[Path, str] | None = None,
) -> list[FileResult]:
    """Each file's findings (at most ``cap`` per rule, then one summary; 0: no cap) and errors;
    ``names``: the name a file has in the report when it is not its path (standard input)."""
    runner = _Runner(kb, plans, window, jobs, cap)
    labels = [(names or {}).get(f) for f in files]
    if jobs <= 1 or len(files) <= 1:
        return [runner.scan(f, n) for f, n in zip(files, labels, strict=True)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(runner.scan, files, labels))
