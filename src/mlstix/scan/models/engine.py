"""``scan_models``: scan files, folders and archives for unsafe model artifacts.

Files are collected (:mod:`._walk`), scanned in parallel worker processes, each opened once and
recognized by content (:mod:`._sniff`); the hits of the analyzers and of the integrity checks
(:mod:`._integrity`) become :class:`~mlstix.findings.model.Finding` s whose severity comes from
the rule (or the user's policy) and whose title comes from the knowledge base. A file that
cannot be read or analysed is an ``errors`` entry and, if it is named like a model, a finding:
unreadable is never silently clean.
"""

# Paths stay strings here: os.walk/os.path on large trees, no Path object per file.
# ruff: noqa: PTH119

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from mlstix.errors import UsageError
from mlstix.findings.model import Finding, Location, Report, ScanError, ScannedFile
from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.models._beside import beside_hits
from mlstix.scan.models._context import Context, Hit, Limits, Source
from mlstix.scan.models._integrity import ModelFile, Trust, check_units
from mlstix.scan.models._policy import ScanPolicy
from mlstix.scan.models._pool import TOOK_LONGER, run_isolated
from mlstix.scan.models._sniff import CONTAINERS, MODEL_SUFFIXES, analyzers, sniff, views
from mlstix.scan.models._walk import Target, collect
from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.rules import load_rules

__all__ = ["FileResult", "ScanOptions", "scan_file", "scan_models", "to_finding"]

_NOT_MODELS = frozenset(
    {
        "zip",
        "tar",
        "hdf5",
        "gzip",
        "bz2",
        "xz",
        "zlib",
        "unknown",
        "sentencepiece",
        "tf-fingerprint",
        "hf-config",
        "chat-template",
        "mlflow-model",
        "triton-config",
        "hydra-config",
        "native-code",
    }
)


@dataclass(frozen=True)
class ScanOptions:
    jobs: int = 0  # 0: as many as the expected work is worth, at most one per core
    policy: ScanPolicy = field(default_factory=ScanPolicy)
    limits: Limits = field(default_factory=Limits)
    trust: Trust = field(default_factory=Trust)
    hash_files: bool = True  # SHA-256 of every scanned file (reads each file in full)
    isolate: bool = True  # each file in a worker process whose crash costs only that file


@dataclass(frozen=True)
class FileResult:
    target: Target
    kind: str | None
    sha256: str | None
    hits: tuple[Hit, ...]
    error: str | None = None


def _model_named(name: str) -> bool:
    lower = name.lower()
    return any(lower.endswith(s) for s in MODEL_SUFFIXES)


class AnalysisTimeout(Exception):
    """The analysis of one file took longer than ``Limits.timeout``."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`AnalysisTimeout` in this thread after ``seconds`` (a parser that spins on
    hostile input). Uses SIGALRM, so only in a main thread on POSIX; elsewhere no deadline."""
    usable = (
        seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise AnalysisTimeout(f"gave up after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _open_local(target: Target) -> contextlib.AbstractContextManager[IO[bytes]]:
    # a small file is read in one call (see _whole): no buffer to allocate and fill
    buffering = 0 if target.size <= _READ_ONCE else 1 << 16
    return open(target.real, "rb", buffering=buffering)  # noqa: PTH123


_READ_ONCE = 1 << 20  # local files up to this size are read once and analysed from memory


def _whole(fp: IO[bytes], size: int, hash_file: bool, whole: bool) -> tuple[IO[bytes], str | None]:
    """The stream to analyse and, if ``hash_file``, the SHA-256 of every byte of ``fp``.
    With ``whole``, a small file is read in one call and analysed from memory (and hashed from
    the same bytes: one read instead of two); a larger one is hashed as it is read, then
    rewound."""
    if whole and size <= _READ_ONCE:
        data = fp.read(size + 1)  # exactly: a larger read costs a larger allocation
        if len(data) <= size:  # else it grew since it was listed: read it as a stream
            digest = hashlib.sha256(data).hexdigest() if hash_file else None
            return io.BytesIO(data), digest
        fp.seek(0)
    if not hash_file:
        return fp, None
    digest = hashlib.file_digest(fp, "sha256").hexdigest()  # type: ignore[arg-type]
    fp.seek(0)
    return fp, digest


class _Hashing:
    """The SHA-256 of a large local file, computed in a thread while the analysis runs (the
    reads and ``hashlib`` release the GIL: on a second core the hash costs no wall time). The
    thread reads through its own descriptor; leaving the ``with`` waits for it."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._out: list[str | OSError] = []
        self._thread = threading.Thread(target=self._run, name="mlstix-sha256", daemon=True)

    def _run(self) -> None:
        try:
            with open(self._path, "rb", buffering=0) as fp:  # noqa: PTH123
                self._out.append(hashlib.file_digest(fp, "sha256").hexdigest())
        except OSError as exc:
            self._out.append(exc)

    def __enter__(self) -> _Hashing:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()

    def digest(self) -> str:
        self._thread.join()
        out = self._out[0] if self._out else OSError("hashing stopped")
        if isinstance(out, OSError):
            raise out
        return out


def scan_file(
    target: Target,
    allow: tuple[str, ...],
    limits: Limits,
    hash_file: bool = True,
    opener: Callable[[Target], contextlib.AbstractContextManager[IO[bytes]]] = _open_local,
) -> FileResult:
    """Scan one file. This is the per-file error boundary: whatever an analyzer raises on
    hostile input is reported for this file and never stops the scan. ``opener`` gives the
    bytes (a local file; :mod:`mlstix.scan.remote` passes a range reader over an object)."""
    name = os.path.basename(target.display)
    ctx = Context(ImportPolicy(allow), limits, analyzers(), sniff, CONTAINERS, views)
    try:
        with opener(target) as fp, contextlib.ExitStack() as later:
            local = opener is _open_local
            if hash_file and local and target.size > _READ_ONCE:
                hashing = later.enter_context(_Hashing(target.real))  # beside the analysis
                fp, digest = fp, None
            else:  # remote readers fetch only the ranges an analyzer reads: no whole read
                hashing = None
                fp, digest = _whole(fp, target.size, hash_file, hash_file or local)
            with _deadline(limits.timeout):
                kind = ctx.scan(Source(fp, target.size, name))
            if hashing is not None:
                digest = hashing.digest()
    except OSError as exc:
        message = f"cannot read: {exc.strerror or exc}"
        hits: tuple[Hit, ...] = (Hit("models/unreadable", message),) if _model_named(name) else ()
        return FileResult(target, "unknown" if hits else None, None, hits, message)
    except Exception as exc:  # the per-file boundary, see the docstring
        message = f"analysis failed: {type(exc).__name__}: {exc}"
        hits = (*ctx.hits, _unfinished(message) if _limit(exc) else _unreadable(message))
        return FileResult(target, "unknown", None, hits, message)
    if kind is None and _model_named(name):
        ctx.hits.append(
            Hit(
                "models/unrecognized-model-file",
                f"{name} is named like a model but is none of the formats mlstix recognizes",
            )
        )
        kind = "unknown"
    error = "; ".join(dict.fromkeys(ctx.errors)) or None
    return FileResult(target, kind, digest, tuple(ctx.hits), error)


_SLOWEST_READ = 32 << 20  # bytes/s: hashing and reading a file, outside the analysis timeout


def _failed(target: Target, why: str) -> FileResult:
    hit = _unfinished(why) if why.startswith(TOOK_LONGER) else _unreadable(why)
    return FileResult(target, "unknown", None, (hit,), why)


def _limit(exc: BaseException) -> bool:
    """A limit of the scan stopped the analysis (the loader has none): time or memory."""
    return isinstance(exc, AnalysisTimeout | MemoryError)


def _unfinished(why: str) -> Hit:
    """What a hostile file gains by making the analysis slow or large: it is not clean, and
    what was not checked may run (a padded pickle with a payload at its end)."""
    return Hit("models/archive-limit", f"the file was not checked in full: {why}",
               evidence={"limit": "timeout or memory"})  # fmt: skip


def _unreadable(why: str) -> Hit:
    return Hit("models/unreadable", why)


# One more worker process pays for itself only with enough work to share: each one costs its
# fork, its own first imports (NumPy, h5py, ...) and caches, and on cores that share a physical
# core (SMT) two busy workers each run slower. Measured on benchmarks/scan_models.py (3,121
# files, 0.3 GiB, 2 vCPUs): one worker used 0.27 s less CPU than two, and was faster in wall time
# too whenever other processes were running. Expected work: per file, plus reading and hashing.
_WORK_PER_WORKER = 2.0  # seconds of expected work per worker process
_PER_FILE = 0.3e-3  # seconds: opening, recognizing and analysing a small file
_PER_BYTE = 1e-9  # seconds: SHA-256 (about 1 GB/s); without hashing, most bytes go unread


def _auto_jobs(targets: list[Target], hashing: bool) -> int:
    """Worker processes for ``-j 0``: one per ``_WORK_PER_WORKER`` seconds of expected work, at
    least one, at most one per usable core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    size = sum(t.size for t in targets)
    work = len(targets) * _PER_FILE + size * (_PER_BYTE if hashing else _PER_BYTE / 10)
    return max(1, min(cores or 1, int(work / _WORK_PER_WORKER) + 1))


def _scan_all(
    targets: list[Target],
    options: ScanOptions,
    progress: Callable[[FileResult], None] | None,
    meanwhile: Callable[[], object],
) -> list[FileResult]:
    """Scan ``targets``; ``meanwhile`` runs in this process while the workers scan (after they
    are forked, so no lock of a half-done import can be inherited)."""
    allow = options.policy.allow_imports
    jobs = options.jobs or _auto_jobs(targets, options.hash_files)
    ordered = sorted(targets, key=lambda t: -t.size)  # big files first balances the workers
    results: list[FileResult] = []
    work = functools.partial(
        _scan_one, allow=allow, limits=options.limits, hash_file=options.hash_files
    )
    if not options.isolate:
        for t in ordered:
            results.append(work(t))
            if progress:
                progress(results[-1])
        meanwhile()
        return results
    for res in run_isolated(
        ordered,
        work,
        _failed,
        jobs=jobs,
        timeout=options.limits.timeout,
        reading=lambda t: t.size / _SLOWEST_READ,
        memory=options.limits.max_memory,
        meanwhile=meanwhile,
    ):
        results.append(res)
        if progress:
            progress(res)
    return results


def _scan_one(
    target: Target, *, allow: tuple[str, ...], limits: Limits, hash_file: bool
) -> FileResult:
    return scan_file(target, allow, limits, hash_file)


def _finding(kb: KnowledgeBase, hit: Hit, path: str, policy: ScanPolicy) -> Finding:
    rule = load_rules("models")[hit.rule_id]
    return Finding(
        rule_id=rule.id,
        severity=policy.severity.get(rule.id, rule.severity),
        title=kb.vulnerability(rule.vulnerability).name,
        message=hit.message,
        location=Location(path, member=hit.member, line=hit.line),
        vulnerability=rule.vulnerability,
        courses_of_action=rule.courses_of_action,
        evidence=hit.evidence,
    )


to_finding = _finding  # for mlstix.scan.remote, which builds its report from the same hits


def collect_targets(
    paths: Iterable[str], policy: ScanPolicy
) -> tuple[list[Target], list[ScanError]]:
    return collect(list(paths), policy.ignored)


def scan_models(
    paths: Iterable[str],
    kb: KnowledgeBase | Callable[[], KnowledgeBase],
    options: ScanOptions | None = None,
    *,
    progress: Callable[[FileResult], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> Report:
    """Scan ``paths`` (files, folders, archives) and return the report.

    ``on_start(files, bytes)`` is called once the files are collected; ``progress`` after each
    file is scanned. ``kb`` may be a loader, called while the workers scan. Raises
    :class:`~mlstix.errors.UsageError` for paths that do not exist.
    """
    options = options or ScanOptions()
    paths = list(paths)
    targets, errors = collect_targets(paths, options.policy)
    if not targets and not errors:
        raise UsageError(f"nothing to scan: no files under {', '.join(paths)}")
    if on_start:
        on_start(len(targets), sum(t.size for t in targets))
    loaded: list[KnowledgeBase] = []

    def load() -> None:
        loaded.append(kb if isinstance(kb, KnowledgeBase) else kb())

    results = _scan_all(targets, options, progress, load)
    knowledge = loaded[0]
    scanned: list[ScannedFile] = []
    findings: list[Finding] = []
    model_files: list[ModelFile] = []
    for res in results:
        display = res.target.display
        if res.error:
            errors.append(ScanError(display, res.error))
        if res.kind is None:
            continue
        scanned.append(ScannedFile(display, res.kind, res.sha256))
        findings.extend(_finding(knowledge, h, display, options.policy) for h in res.hits)
        if res.kind not in _NOT_MODELS:
            model_files.append(ModelFile(res.target.real, display, res.target.root))
    for display, hit in check_units(model_files, options.trust):
        findings.append(_finding(knowledge, hit, display, options.policy))
    rows = ((r.target.real, r.target.display, r.target.root, r) for r in results)
    for display, hit in beside_hits(rows, _NOT_MODELS):
        findings.append(_finding(knowledge, hit, display, options.policy))
    # every rule runs on every model file, except signature verification without trust options
    # (then a present signature is reported as unverified instead)
    ids = load_rules("models").ids
    skipped = "models/signature-unverified" if options.trust.given else "models/signature-invalid"
    ran = [r for r in ids if r != skipped]
    return Report.build("models", scanned, findings, errors, rules_run=ran if model_files else ())
