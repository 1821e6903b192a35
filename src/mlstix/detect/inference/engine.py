"""``detect_inference``: read inference logs once, judge every client, return a Report.

The stream is read once, in order. The first ``warmup`` queries (held in memory, then judged
like the rest) teach the endpoint's baseline: the shape of its inputs, the spread of each
feature, and how far natural queries of different clients lie from each other. After that,
queries are judged in chunks: the off-manifold test is one matrix product per chunk, and each
client's detectors see its queries in order (see :mod:`._detectors`). Client state is bounded
(``max_clients``, least recently seen evicted first; a detection already made is kept).
"""

from __future__ import annotations

import os
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mlstix.detect.inference._baseline import Baseline
from mlstix.detect.inference._clients import parse_client_key
from mlstix.detect.inference._detectors import PROFILES, ClientState, Detection
from mlstix.detect.inference._features import DecodeError, decode_input, decode_labels
from mlstix.detect.inference._records import LogProblem, Record, read_logs
from mlstix.errors import UsageError
from mlstix.findings.model import Finding, Location, Report, ScanError, ScannedFile
from mlstix.kb.graph import KnowledgeBase

__all__ = ["InferenceOptions", "detect_inference"]

_MIN_QUERIES = 10  # fewer than this from a client is "not enough data"
_MIN_BASELINE = 20
_ERRORS_LISTED = 5  # per file; the rest are counted


@dataclass(frozen=True)
class InferenceOptions:
    client_key: str | None = None
    access_logs: tuple[Path, ...] = ()
    model_type: str = "classifier"  # classifier: outputs are classes; other: ignore outputs
    window: int = 200
    profile: str = "balanced"
    warmup: int = 2000
    max_clients: int = 100_000
    chunk: int = 2048


@dataclass
class _Item:
    client: str
    kind: str
    vector: Any
    label: int | None
    path: str
    line: int
    time: float | None


@dataclass
class _FileStats:
    shapes: Counter[str]
    problems: list[LogProblem]
    problem_count: int = 0


def _log_files(paths: Iterable[str]) -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = []
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
        raise UsageError("nothing to read: the paths hold no log files")
    return out


class _Run:
    def __init__(self, kb: KnowledgeBase, options: InferenceOptions) -> None:
        if options.profile not in PROFILES:
            raise UsageError(f"unknown threshold profile {options.profile!r}")
        self.kb = kb
        self.options = options
        self.profile = PROFILES[options.profile]
        self.key = parse_client_key(options.client_key, options.access_logs)
        self.files: dict[str, _FileStats] = {}
        self.states: OrderedDict[str, ClientState] = OrderedDict()
        self.done: list[tuple[str, ClientState]] = []  # evicted clients that were flagged
        self.volumes: Counter[str] = Counter()
        self.baseline: Baseline | None = None
        self.kind = ""
        self.dim = 0
        self.no_client = 0

    # -- reading -----------------------------------------------------------------------------

    def problem(self, problem: LogProblem) -> None:
        stats = self.files[problem.path]
        stats.problem_count += 1
        if len(stats.problems) < _ERRORS_LISTED:
            stats.problems.append(problem)

    def items(self, files: list[tuple[Path, str]]) -> Iterator[_Item]:
        for _, display in files:
            self.files[display] = _FileStats(Counter(), [])
        for entry in read_logs(files):
            if isinstance(entry, LogProblem):
                self.problem(entry)
                continue
            yield from self._instances(entry, self.files[entry.path])

    def _instances(self, record: Record, stats: _FileStats) -> Iterator[_Item]:
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
            yield _Item(client, instance.kind, instance.vector, label, record.path, record.line,
                        record.time)  # fmt: skip

    # -- judging -----------------------------------------------------------------------------

    def _fits(self, item: _Item) -> bool:
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

    def learn(self, warm: list[_Item]) -> list[_Item]:
        shapes = Counter((item.kind, len(item.vector)) for item in warm)
        (self.kind, self.dim), _ = shapes.most_common(1)[0]
        fitting = [item for item in warm if self._fits(item)]
        cap = max(5, len(fitting) // 100)  # no client may define "normal"
        per_client: Counter[str] = Counter()
        owners: dict[str, int] = {}
        chosen = []
        for item in fitting:
            if per_client[item.client] < cap:
                per_client[item.client] += 1
                chosen.append(item)
                owners.setdefault(item.client, len(owners))
        if len(chosen) >= _MIN_BASELINE:
            vectors = np.stack([item.vector for item in chosen]).astype(np.float32)
            spread_from = np.stack([item.vector for item in fitting]).astype(np.float32)
            owner_ids = np.array([owners[item.client] for item in chosen], dtype=np.int64)
            labels = np.array([-1 if i.label is None else i.label for i in chosen], np.int64)
            maxlen = max(4 * self.options.window, 2 * self.profile.prada_min)
            self.baseline = Baseline.learn(
                vectors, owner_ids, labels, self.kind, self.profile, maxlen, spread_from
            )
            self.owner_ids = owners
        return fitting

    def judge(self, chunk: list[_Item]) -> None:
        baseline = self.baseline
        if baseline is None or not chunk:
            return
        scaled = baseline.transform(np.stack([item.vector for item in chunk]))
        owners = np.array([self.owner_ids.get(item.client, -1) for item in chunk], np.int64)
        off = baseline.off_manifold(scaled, owners)
        order: dict[str, list[int]] = {}
        for index, item in enumerate(chunk):
            order.setdefault(item.client, []).append(index)
        for client, rows in order.items():
            state = self._state(client)
            state.update(
                scaled[rows],
                np.array(
                    [-1 if chunk[r].label is None else chunk[r].label for r in rows], np.int64
                ),
                off[rows],
                [(chunk[r].path, chunk[r].line, chunk[r].time) for r in rows],
                baseline,
            )

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
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            self._run(files)

    def _run(self, files: list[tuple[Path, str]]) -> None:
        stream = self.items(files)
        warm: list[_Item] = []
        for item in stream:
            warm.append(item)
            if len(warm) >= self.options.warmup:
                break
        if not warm:
            return
        pending = self.learn(warm)
        size = self.options.chunk
        for start in range(0, len(pending), size):
            self.judge(pending[start : start + size])
        chunk: list[_Item] = []
        for item in stream:
            if self._fits(item):
                chunk.append(item)
                if len(chunk) >= size:
                    self.judge(chunk)
                    chunk = []
        self.judge(chunk)


_RULES = {
    "prada": "inference/extraction-prada",
    "coverage": "inference/extraction-coverage",
    "probing": "inference/adversarial-probing",
    "steps": "inference/extraction-synthetic",
}
_ATTACK = {
    "prada": "ml-model-extraction",
    "coverage": "ml-model-extraction",
    "probing": "ml-adversarial-example-attacks",
    "steps": "ml-model-extraction",
}


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(detection: Detection, state: ClientState) -> str:
    stat = detection.statistic
    if detection.detector == "prada":
        return (
            f"the distances between its queries are not normally distributed (Shapiro–Wilk "
            f"W = {stat['shapiro_wilk_w']} < {stat['delta']}), as synthetic extraction queries are"
        )
    if detection.detector == "steps":
        return (
            f"{stat['sign_steps_in_window']} of its last {stat['window']} queries repeat the "
            "per-feature step of another from an earlier query, as synthetic extraction "
            "queries made by Jacobian-based augmentation do"
        )
    if detection.detector == "coverage":
        return (
            f"{stat['off_manifold_share']:.0%} of its queries lie off the endpoint's natural "
            f"input distribution (threshold {stat['threshold']:.0%}), as extraction sweeps of "
            "the input space and adversarial searches do"
        )
    return (
        f"{stat['near_duplicates_in_window']} of its last {stat['window']} queries are near "
        "duplicates of earlier ones, as query-based adversarial attacks send"
    )


def _finding(
    kb: KnowledgeBase, client: str, state: ClientState, detection: Detection, median: float
) -> Finding:
    from mlstix.scan.rules import load_rules

    rule = load_rules("inference")[_RULES[detection.detector]]
    span = f"{_iso(state.first_time)} to {_iso(state.last_time)}" if state.first_time else ""
    message = (
        f"client {client}: {state.queries} queries{' from ' + span if span else ''}; "
        f"{_describe(detection, state)}; flagged at query {detection.query}"
    )
    evidence: dict[str, Any] = {
        "client": client,
        "detector": detection.detector,
        "attack_pattern": _ATTACK[detection.detector],
        "queries": state.queries,
        "queries_until_detection": detection.query,
        "first_seen": _iso(state.first_time),
        "last_seen": _iso(state.last_time),
        "detected_at": _iso(detection.time),
        "volume_vs_median_client": round(state.queries / median, 2) if median else None,
        **detection.statistic,
    }
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        title=kb.vulnerability(rule.vulnerability).name,
        message=message,
        location=Location(detection.path, line=detection.line or None, resource=client),
        vulnerability=rule.vulnerability,
        courses_of_action=rule.courses_of_action,
        evidence={k: v for k, v in evidence.items() if v is not None},
    )


def detect_inference(
    paths: Iterable[str],
    kb: KnowledgeBase | Callable[[], KnowledgeBase],
    options: InferenceOptions | None = None,
) -> Report:
    """Judge the inference logs at ``paths`` (files or folders). Raises
    :class:`~mlstix.errors.UsageError` for missing paths or bad options."""
    options = options or InferenceOptions()
    files = _log_files(paths)
    knowledge = kb if isinstance(kb, KnowledgeBase) else kb()
    run = _Run(knowledge, options)
    run.run(files)
    findings: list[Finding] = []
    clients = [*run.states.items(), *run.done]
    volumes = sorted(run.volumes.values())
    median = float(volumes[len(volumes) // 2]) if volumes else 0.0
    for client, state in clients:
        for detection in state.detections.values():
            findings.append(_finding(knowledge, client, state, detection, median))
    few = sum(1 for count in run.volumes.values() if count < _MIN_QUERIES)
    if (run.baseline is None and run.volumes) or few:
        findings.append(_not_enough(knowledge, run, few, files[0][1]))
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
            errors.append(ScanError(display, f"and {hidden} more lines that could not be read"))
    return Report.build("inference", scanned, findings, errors)


def _not_enough(kb: KnowledgeBase, run: _Run, few: int, path: str) -> Finding:
    from mlstix.scan.rules import load_rules

    rule = load_rules("inference")["inference/not-enough-data"]
    total = len(run.volumes)
    if run.baseline is None:
        message = (
            f"only {sum(run.volumes.values())} queries could be read: too few to learn the "
            f"endpoint's baseline (at least {_MIN_BASELINE}); no client was judged"
        )
    else:
        message = (
            f"{few} of {total} clients sent fewer than {_MIN_QUERIES} queries: too few to judge "
            "their query distribution"
        )
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        title=kb.vulnerability(rule.vulnerability).name,
        message=message,
        location=Location(path),
        vulnerability=rule.vulnerability,
        courses_of_action=rule.courses_of_action,
        evidence={"clients": total, "clients_with_too_few_queries": few},
    )
