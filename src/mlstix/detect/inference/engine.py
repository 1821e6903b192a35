"""``detect_inference``: read inference logs once, judge every client, return a Report.

The stream is read once, in order. The first ``warmup`` queries (held in memory, then judged
like the rest) teach the endpoint's baseline: the shape of its inputs, the spread of each
feature, and how far natural queries of different clients lie from each other. After that,
queries are judged in chunks (up to ``chunk`` queries, at most 64 MiB of inputs): the
off-manifold test is one matrix product per chunk, and each client's detectors see its queries
in order, with verdicts that do not depend on where the chunks fall (see :mod:`._detectors`).
Blocks of Data Capture lines with CSV bodies arrive already in columns (:mod:`._fast`); every
other line is read and decoded one by one (:mod:`._records`, :mod:`._features`). Client state
is bounded (``max_clients``, least recently seen evicted first; a detection already made is
kept).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._baseline import Baseline
from mlstix.detect.inference._clients import parse_client_key
from mlstix.detect.inference._detectors import PROFILES, ClientState, Where
from mlstix.detect.inference._fast import FastBatch, fast_reader
from mlstix.detect.inference._features import DecodeError, decode_input, decode_labels
from mlstix.detect.inference._records import LogProblem, Record, log_files, read_logs
from mlstix.detect.inference._report import MIN_BASELINE, MIN_QUERIES, finding, not_enough
from mlstix.detect.inference._rows import Item, Queue, Rows, Warm, in_order
from mlstix.detect.inference._terms import Terms
from mlstix.errors import UsageError
from mlstix.findings.model import Finding, Report, ScanError, ScannedFile

if TYPE_CHECKING:
    from mlstix.kb.graph import KnowledgeBase

__all__ = ["InferenceOptions", "detect_inference"]

Matrix = npt.NDArray[np.float32]

_ERRORS_LISTED = 5  # per file; the rest are counted
_SMALL_CODES = 0xFFFF  # distinct clients in a chunk up to which they are sorted as 16-bit codes
_Rows = Rows  # (the name benchmarks/detect_inference.py's judging timer is annotated with)


@dataclass(frozen=True)
class InferenceOptions:
    client_key: str | None = None
    access_logs: tuple[Path, ...] = ()
    model_type: str = "classifier"  # classifier: outputs are classes; other: ignore outputs
    window: int = 200
    profile: str = "balanced"
    warmup: int = 2000
    max_clients: int = 100_000
    chunk: int = 65536
    columnar: bool = True  # read Data Capture CSV blocks in columns (see ._fast)
    # the caller set the BLAS thread variables to 1 before NumPy was imported (the CLI does)
    blas_pinned: bool = False


@dataclass
class _FileStats:
    shapes: Counter[str]
    problems: list[LogProblem]
    problem_count: int = 0


def _openblas() -> bool:
    """Whether NumPy was built on OpenBLAS (as its wheels are), which reads
    ``OPENBLAS_NUM_THREADS`` when it is loaded; another BLAS is limited with threadpoolctl."""
    try:
        from numpy.__config__ import CONFIG

        name = CONFIG["Build Dependencies"]["blas"]["name"]
    except (ImportError, KeyError, TypeError):
        return False
    return isinstance(name, str) and "openblas" in name.lower()


class _Run:
    def __init__(self, options: InferenceOptions) -> None:
        if options.profile not in PROFILES:
            raise UsageError(f"unknown threshold profile {options.profile!r}")
        self.options = options
        self.profile = PROFILES[options.profile]
        self.key = parse_client_key(options.client_key, options.access_logs)
        self.fast = (
            fast_reader(options.client_key, options.model_type) if options.columnar else None
        )
        self.files: dict[str, _FileStats] = {}
        self.names: list[str] = []
        self.file_ids: dict[str, int] = {}
        self.states: OrderedDict[str, ClientState] = OrderedDict()
        self.done: list[tuple[str, ClientState]] = []  # evicted clients that were flagged
        self.volumes: Counter[str] = Counter()
        self.baseline: Baseline | None = None
        self.owner_ids: dict[str, int] = {}
        self.kind = ""
        self.dim = 0
        self.no_client = 0

    # -- reading -----------------------------------------------------------------------------

    def problem(self, problem: LogProblem) -> None:
        stats = self.files[problem.path]
        stats.problem_count += 1
        if len(stats.problems) < _ERRORS_LISTED:
            stats.problems.append(problem)

    def entries(self, files: list[tuple[Path, str]]) -> Iterator[Item | FastBatch]:
        """The queries of the logs, in order: one by one, or a block at a time in columns."""
        for _, display in files:
            self.files[display] = _FileStats(Counter(), [])
            self.file_ids[display] = len(self.names)
            self.names.append(display)
        for entry in read_logs(files, self.fast):
            if isinstance(entry, LogProblem):
                self.problem(entry)
            elif isinstance(entry, FastBatch):  # volumes counted later (see Rows.counted)
                self.files[entry.path].shapes[entry.shape] += len(entry.clients)
                yield entry
            else:
                yield from self._instances(entry, self.files[entry.path])

    def _instances(self, record: Record, stats: _FileStats) -> Iterator[Item]:
        client = self.key(record)
        if client is None:
            self.no_client += 1
            self.problem(LogProblem(record.path, record.line, "the client key finds no client"))
            return
        try:
            instances = decode_input(record.input)
        except DecodeError as exc:
            self.problem(LogProblem(record.path, record.line, f"request body: {exc}"))
            return
        stats.shapes[record.shape] += 1
        if self.options.model_type == "classifier":
            labels = decode_labels(record.output, len(instances))
        else:
            labels = [None] * len(instances)
        self.volumes[client] += len(instances)
        for instance, label in zip(instances, labels, strict=True):
            yield Item(client, instance.kind, instance.vector, label, record.path, record.line,
                       record.time)  # fmt: skip

    @staticmethod
    def _items(batch: FastBatch, start: int = 0, stop: int | None = None) -> Iterator[Item]:
        for i in range(start, len(batch.clients) if stop is None else stop):
            when = float(batch.times[i])
            label = int(batch.labels[i])
            yield Item(batch.clients[i], "numeric", batch.vectors[i],
                       None if label < 0 else label, batch.path, int(batch.lines[i]),
                       None if math.isnan(when) else when)  # fmt: skip

    def columns(self, items: list[Item]) -> Rows:
        return Rows(
            [item.client for item in items],
            np.stack([item.vector for item in items]).astype(np.float32),
            np.array([-1 if i.label is None else i.label for i in items], dtype=np.int64),
            np.array([self.file_ids[item.path] for item in items], dtype=np.int64),
            np.array([item.line for item in items], dtype=np.int64),
            np.array([np.nan if i.time is None else i.time for i in items], dtype=np.float64),
        )

    # -- judging -----------------------------------------------------------------------------

    def _fits(self, item: Item) -> bool:
        kind, vector = item.kind, item.vector
        if kind == self.kind and len(vector) == self.dim:
            return True
        self.problem(
            LogProblem(
                item.path,
                item.line,
                f"a {kind} input of {len(vector)} values; the endpoint's inputs are "
                f"{self.kind} of {self.dim} values",
            )
        )
        return False

    def _warm_rows(self, warm: list[Warm]) -> Rows | None:
        """The warm-up queries that fit the endpoint's input, in columns, in log order (the
        others are problems); blocks read in columns stay in columns."""
        parts: list[Rows] = []
        items: list[Item] = []
        for piece in warm:
            if isinstance(piece, Item):
                if self._fits(piece):
                    items.append(piece)
                continue
            batch, stop = piece
            if self.kind != "numeric" or batch.vectors.shape[1] != self.dim:
                self.volumes.update(batch.clients[:stop])
                items.extend(item for item in self._items(batch, 0, stop) if self._fits(item))
                continue
            if items:
                parts.append(self.columns(items))
                items = []
            rows = self._slice(batch, 0, stop)
            # as read one by one: a negative label is none (-1)
            parts.append(replace(rows, labels=np.maximum(rows.labels, -1)))
        if items:
            parts.append(self.columns(items))
        return self.join(parts) if parts else None

    def join(self, parts: list[Rows]) -> Rows:
        """``parts`` as one, in order (uncounted where all of them are)."""
        if len(parts) == 1:
            return parts[0]
        counted = any(part.counted for part in parts)
        if counted:
            for part in parts:
                if not part.counted:
                    self.volumes.update(part.clients)
        clients = list(itertools.chain.from_iterable(part.clients for part in parts))

        def joined(name: str) -> Any:
            return np.concatenate([getattr(part, name) for part in parts])

        return Rows(clients, joined("vectors"), joined("labels"), joined("files"),
                    joined("lines"), joined("times"), counted)  # fmt: skip

    def learn(self, warm: list[Warm]) -> Rows | None:
        shapes: Counter[tuple[str, int]] = Counter()
        for piece in warm:
            if isinstance(piece, Item):
                shapes[(piece.kind, len(piece.vector))] += 1
            else:
                shapes[("numeric", piece[0].vectors.shape[1])] += piece[1]
        (self.kind, self.dim), _ = shapes.most_common(1)[0]
        fitting = self._warm_rows(warm)
        if fitting is None:
            return None
        cap = max(5, len(fitting) // 100)  # no client may define "normal"
        per_client: Counter[str] = Counter()
        owners: dict[str, int] = {}
        chosen: list[int] = []
        for row, client in enumerate(fitting.clients):
            if per_client[client] < cap:
                per_client[client] += 1
                chosen.append(row)
                owners.setdefault(client, len(owners))
        if len(chosen) >= MIN_BASELINE:
            pick = np.array(chosen, dtype=np.int64)
            clients = fitting.clients
            owner_ids = np.array([owners[clients[row]] for row in chosen], dtype=np.int64)
            maxlen = max(4 * self.options.window, 2 * self.profile.prada_min)
            self.baseline = Baseline.learn(
                fitting.vectors[pick], owner_ids, fitting.labels[pick], self.kind, self.profile,
                maxlen, fitting.vectors,
            )  # fmt: skip
            from mlstix.detect.inference._calibrate import steps_needed

            self.baseline.steps_count = steps_needed(
                self.baseline, fitting.vectors[pick], fitting.labels[pick], self.profile,
                self.options.window,
            )  # fmt: skip
            self.owner_ids = owners
        return fitting

    def judge(self, rows: Rows | list[Rows]) -> None:
        """Judge queries (one part, or the parts queued, in log order)."""
        parts = [part for part in ([rows] if isinstance(rows, Rows) else rows) if len(part)]
        baseline = self.baseline
        uncounted = [part for part in parts if not part.counted]
        if baseline is None or not parts or len(uncounted) < len(parts):
            for part in uncounted:
                self.volumes.update(part.clients)
            if baseline is None or not parts:
                return
        clients = parts[0].clients if len(parts) == 1 else list(
            itertools.chain.from_iterable(part.clients for part in parts))  # fmt: skip
        # each client's code in order of first appearance, mapped in C-level loops (16-bit
        # codes where they fit: NumPy sorts those by radix, six times faster here)
        codes = {client: code for code, client in enumerate(dict.fromkeys(clients))}
        small = len(codes) <= _SMALL_CODES
        index = np.fromiter(map(codes.__getitem__, clients),
                            np.uint16 if small else np.int64, len(clients))  # fmt: skip
        order = np.argsort(index, kind="stable")
        sizes = np.bincount(index, minlength=len(codes))
        if uncounted and len(uncounted) == len(parts):
            volumes = self.volumes
            for client, size in zip(codes, sizes.tolist(), strict=True):
                volumes[client] += size
        ends = np.cumsum(sizes).tolist()
        starts = [0, *ends[:-1]]
        # every column in client order at once (each client's rows are then one slice), the
        # inputs straight from the parts; the off-manifold test is exact row by row, so it
        # takes them in this order too
        vectors = in_order(parts, order, len(clients))
        scaled = baseline.transform(vectors)
        known = self.owner_ids
        owner = np.array([known.get(client, -1) for client in codes], np.int64)
        off = baseline.off_manifold(scaled, np.repeat(owner, sizes))

        def column(name: str) -> Any:
            if len(parts) == 1:
                return getattr(parts[0], name).take(order)
            return np.concatenate([getattr(part, name) for part in parts]).take(order)

        labels, files, lines, times = (column(name) for name in ("labels", "files", "lines",
                                                                  "times"))  # fmt: skip
        firsts = np.fmin.reduceat(times, starts).tolist()  # NaN: no time
        lasts = np.fmax.reduceat(times, starts).tolist()
        names = self.names
        for client, start, end, first, last in zip(codes, starts, ends, firsts, lasts,
                                                   strict=True):  # fmt: skip
            mine = slice(start, end)
            where = Where(names, files[mine], lines[mine], times[mine])
            self._state(client).update(scaled[mine], labels[mine], off[mine], where, baseline,
                                       span=(first, last))  # fmt: skip

    def _state(self, client: str) -> ClientState:
        state = self.states.get(client)
        if state is not None:
            self.states.move_to_end(client)
            return state
        state = ClientState(self.dim, self.options.window, self.profile)
        self.states[client] = state
        if len(self.states) > self.options.max_clients:
            old, evicted = self.states.popitem(last=False)
            if evicted.detections:
                self.done.append((old, evicted))
        return state

    def run(self, files: list[tuple[Path, str]]) -> None:
        # the matrices here are small (a client's batch against its window): a multi-threaded
        # BLAS spends more time waking threads than multiplying; one thread is twice as fast
        if self.options.blas_pinned and _openblas():
            self._run(files)  # loaded with one thread (OPENBLAS_NUM_THREADS=1)
            return
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            self._run(files)

    def _run(self, files: list[tuple[Path, str]]) -> None:
        stream = self.entries(files)
        warm: list[Warm] = []
        count = 0
        rest: FastBatch | None = None
        rest_from = 0
        for entry in stream:
            if isinstance(entry, FastBatch):
                take = min(self.options.warmup - count, len(entry))
                if take > 0:
                    warm.append((entry, take))
                    count += take
                if take < len(entry):
                    rest = entry
                    rest_from = take
            else:
                warm.append(entry)
                count += 1
            if count >= self.options.warmup:
                break
        if not warm:
            return
        pending = self.learn(warm)
        # at most 64 MiB of inputs judged at once, however wide they are
        size = min(self.options.chunk, max(256, (64 << 20) // (4 * max(1, self.dim))))
        queue = Queue(self, size)
        for start in range(0, len(pending) if pending is not None else 0, size):
            assert pending is not None
            queue.add(pending.part(start, start + size))
        if rest is not None:
            queue.add(self._batch_rows(rest, rest_from))
        for entry in stream:
            if isinstance(entry, FastBatch):
                queue.add(self._batch_rows(entry, 0))
            elif self._fits(entry):
                queue.item(entry)
        queue.flush()

    def _batch_rows(self, batch: FastBatch, start: int) -> Rows | None:
        if self.kind != "numeric" or batch.vectors.shape[1] != self.dim:
            self.volumes.update(batch.clients[start:])
            items = [item for item in self._items(batch, start) if self._fits(item)]
            return self.columns(items) if items else None
        return self._slice(batch, start, len(batch))

    def _slice(self, batch: FastBatch, start: int, end: int) -> Rows:
        files = np.full(end - start, self.file_ids[batch.path], dtype=np.int64)
        return Rows(batch.clients[start:end], batch.vectors[start:end], batch.labels[start:end],
                    files, batch.lines[start:end], batch.times[start:end], False)  # fmt: skip


def detect_inference(
    paths: Iterable[str],
    kb: KnowledgeBase | Callable[[], KnowledgeBase] | None = None,
    options: InferenceOptions | None = None,
) -> Report:
    """Judge the inference logs at ``paths`` (files or folders). Raises
    :class:`~mlstix.errors.UsageError` for missing paths or bad options.

    ``kb`` gives the findings their knowledge-base terms: a knowledge base, a loader (called
    when the first finding is made), or ``None``: the few terms they need read from the
    packaged rule and knowledge-base files without loading the rest (see :mod:`._terms`)."""
    options = options or InferenceOptions()
    files = log_files(paths)
    terms = Terms(kb)
    run = _Run(options)
    run.run(files)
    findings: list[Finding] = []
    clients = [*run.states.items(), *run.done]
    volumes = sorted(run.volumes.values())
    median = float(volumes[len(volumes) // 2]) if volumes else 0.0
    for client, state in clients:
        for detection in state.detections.values():
            findings.append(finding(terms, client, state, detection, median))
    few = sum(1 for count in run.volumes.values() if count < MIN_QUERIES)
    if (run.baseline is None and run.volumes) or few:
        findings.append(not_enough(terms, run.volumes, run.baseline is not None, few, files[0][1]))
    errors = []
    scanned = []
    for display, stats in run.files.items():
        kind = stats.shapes.most_common(1)[0][0] if stats.shapes else "inference-log"
        scanned.append(ScannedFile(display, kind))
        for problem in stats.problems:
            where = f"line {problem.line}: " if problem.line else ""
            errors.append(ScanError(display, f"{where}{problem.message}"))
        hidden = stats.problem_count - len(stats.problems)
        if hidden > 0:
            # "lines …" sorts after every "line N: …" of the file: the count follows what it counts
            errors.append(ScanError(display, f"lines not listed: {hidden} more could not be read"))
    return Report.build("inference", scanned, findings, errors)
