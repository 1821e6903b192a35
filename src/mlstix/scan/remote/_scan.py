"""``scan_remote``: list remote locations, compare with the incremental state, analyse the new
and changed objects on an executor, and build one report over every listed object.

The report is the model scanner's (same rules, findings and KB titles); each scanned entry also
says how many bytes were fetched for it in this run (0 when its result came from the state).
Signature and provenance checks, which need the files next to a model on disk, do not run on
remote locations and are not listed in ``rules_run``; ``mlstix verify URL`` checks signatures.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mlstix import __version__
from mlstix.errors import UsageError
from mlstix.findings.model import Finding, Report, ScanError, ScannedFile
from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.models._context import Hit
from mlstix.scan.models.engine import ScanOptions, to_finding
from mlstix.scan.remote._executors import Executor, LocalExecutor, RayExecutor
from mlstix.scan.remote._fs import parse
from mlstix.scan.remote._listing import RemoteObject, keep
from mlstix.scan.remote._state import Row, StateStore
from mlstix.scan.remote._work import ObjectResult, Work, reused
from mlstix.scan.rules import load_rules

__all__ = ["RemoteOptions", "RemoteStats", "scan_remote"]

# rules of the model scanner that read signature and provenance files beside a model on disk
_LOCAL_ONLY = frozenset(
    {
        "models/unsigned-model",
        "models/signature-invalid",
        "models/signature-unverified",
        "models/signature-malformed",
        "models/no-provenance",
    }
)


@dataclass(frozen=True)
class RemoteOptions:
    state: str | None = None  # SQLite file or SQLAlchemy URL
    executor: str = "local"  # local | ray
    ray_address: str | None = None
    max_bytes_per_file: int = 0  # 0: no cap
    in_flight: int = 16  # objects analysed at once


@dataclass
class RemoteStats:
    """What a run fetched, filled in by :func:`scan_remote`."""

    objects: int = 0
    analysed: int = 0
    reused: int = 0
    total_bytes: int = 0
    fetched_bytes: int = 0
    requests: int = 0
    per_object: dict[str, int] = field(default_factory=dict)


def _fingerprint(work: Work) -> str:
    text = json.dumps(
        [__version__, sorted(work.allow), repr(work.limits), work.hash_file, work.max_bytes]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _hit_json(h: Hit) -> dict[str, Any]:
    return {"rule_id": h.rule_id, "message": h.message, "member": h.member, "line": h.line,
            "evidence": h.evidence}  # fmt: skip


def _hits_of(row: Row) -> tuple[Hit, ...] | None:
    """The hits stored in ``row``; ``None`` for a damaged row (its object is scanned again)."""
    known = set(load_rules("models").ids)
    try:
        hits = tuple(
            Hit(
                d["rule_id"],
                d["message"],
                d.get("member"),
                d.get("line"),
                dict(d.get("evidence") or {}),
            )
            for d in row.hits
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return hits if all(h.rule_id in known for h in hits) else None


def _list_all(
    paths: list[str], executor: Executor, ignored: Callable[[str], bool]
) -> list[RemoteObject]:
    found: dict[str, RemoteObject] = {}
    for path in paths:
        loc = parse(path)
        objs = executor.list_location(loc)
        for o in keep(objs, ignored):
            found.setdefault(o.url, o)
    if not found:  # as for local paths: an empty scan is not a clean one
        raise UsageError(f"nothing to scan: no objects under {', '.join(paths)} (after --exclude)")
    return sorted(found.values(), key=lambda o: o.url)


def _make_executor(options: ScanOptions, remote: RemoteOptions) -> Executor:
    if remote.executor == "ray":
        return RayExecutor(remote.ray_address, remote.in_flight)
    return LocalExecutor(remote.in_flight, isolate=options.isolate)


def scan_remote(
    paths: Iterable[str],
    kb: KnowledgeBase | Callable[[], KnowledgeBase],
    options: ScanOptions | None = None,
    remote: RemoteOptions | None = None,
    *,
    stats: RemoteStats | None = None,
    progress: Callable[[ObjectResult], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> Report:
    """Scan the remote locations ``paths`` (``s3://``, ``gs://``, ``az://``, ``hf://``)."""
    options = options or ScanOptions(hash_files=False)
    remote = remote or RemoteOptions()
    stats = stats if stats is not None else RemoteStats()
    paths = list(paths)
    locations = [parse(p) for p in paths]  # bad URLs fail before anything is opened
    work = Work(
        options.policy.allow_imports, options.limits, options.hash_files, remote.max_bytes_per_file
    )
    fingerprint = _fingerprint(work)
    store = StateStore(remote.state) if remote.state else None
    executor = _make_executor(options, remote)
    try:
        objs = _list_all(paths, executor, options.policy.ignored)
        previous = store.load(loc.url for loc in locations) if store else {}
        results: list[ObjectResult] = []
        todo: list[RemoteObject] = []
        for o in objs:
            row = previous.get(o.url)
            hits = _hits_of(row) if row and row.identity == o.identity else None
            if row and hits is not None and row.fingerprint == fingerprint:
                results.append(reused(o, row.kind, row.sha256, hits))
            else:
                todo.append(o)
        if on_start:
            on_start(len(todo), sum(o.size for o in todo))
        todo.sort(key=lambda o: -o.size)  # big objects first balances the workers
        for res in executor.scan(todo, work):
            results.append(res)
            if progress:
                progress(res)
    except BaseException:
        if store:
            store.close()
        raise
    finally:
        executor.close()
    knowledge = kb if isinstance(kb, KnowledgeBase) else kb()
    report = _report(results, knowledge, options, stats)
    if store:
        _save(store, objs, previous, results, fingerprint)
    return report


def _save(
    store: StateStore,
    objs: list[RemoteObject],
    previous: dict[str, Row],
    results: list[ObjectResult],
    fingerprint: str,
) -> None:
    try:
        listed = {o.url for o in objs}
        rows = [
            Row(
                r.obj.url,
                r.obj.identity,
                fingerprint,
                r.result.kind,
                r.result.sha256,
                [_hit_json(h) for h in r.result.hits],
            )
            for r in results
            if not r.reused and r.result.error is None
        ]
        gone = [u for u in previous if u not in listed]
        store.save(rows, gone)
    finally:
        store.close()


def _report(
    results: list[ObjectResult], kb: KnowledgeBase, options: ScanOptions, stats: RemoteStats
) -> Report:
    scanned: list[ScannedFile] = []
    findings: list[Finding] = []
    errors: list[ScanError] = []
    for r in results:
        stats.objects += 1
        stats.total_bytes += r.obj.size
        stats.fetched_bytes += r.fetched
        stats.requests += r.requests
        stats.per_object[r.obj.url] = r.fetched
        if r.reused:
            stats.reused += 1
        else:
            stats.analysed += 1
        res = r.result
        if res.error:
            errors.append(ScanError(r.obj.url, res.error))
        if res.kind is None:
            continue
        scanned.append(ScannedFile(r.obj.url, res.kind, res.sha256, bytes_fetched=r.fetched))
        findings.extend(to_finding(kb, h, r.obj.url, options.policy) for h in res.hits)
    ids = load_rules("models").ids
    ran = [r for r in ids if r not in _LOCAL_ONLY] if scanned else []
    return Report.build("models", scanned, findings, errors, rules_run=ran)
