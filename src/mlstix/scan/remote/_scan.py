"""``scan_remote``: list remote locations, compare with the incremental state, analyse the new
and changed objects on an executor, and build one report over every listed object.

The report is the model scanner's (same rules, findings and KB titles); each scanned entry also
says how many bytes were fetched for it in this run (0 when its result came from the state).
Signature and provenance checks, which need the files next to a model on disk, do not run on
remote locations and are not listed in ``rules_run``; ``mlstix verify URL`` checks signatures.

A nightly rescan of a large registry is mostly fixed cost, so the steps overlap and nothing is
done twice: the listing runs in a forked process, the agent (:mod:`._background`; in a thread
where the work runs in-process or on Ray), forked by the CLI before it imports the scanner
(:func:`~._listing.start_agent`), which imports the store's SDK and makes its client while
this process imports the scanner, reads the state and loads the knowledge base. A few changed
objects are then analysed by a worker forked from here, under the workers' limits, whose reads
the agent does (:mod:`._relay`); more by the worker pool the agent forks, which inherits the
SDK. This process never imports the SDK unless the agent fails; whatever was not answered is
analysed here, in this process's own pool.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from mlstix import __version__
from mlstix.errors import UsageError
from mlstix.findings.model import Finding, Report, ScanError, ScannedFile
from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.models._context import Hit
from mlstix.scan.models.engine import ScanOptions, to_finding
from mlstix.scan.remote._background import Agent, Pending, Worker, in_thread, paused_gc
from mlstix.scan.remote._executors import Executor, LocalExecutor, RayExecutor
from mlstix.scan.remote._fs import Location, parse
from mlstix.scan.remote._listing import RemoteObject, keep, start_agent
from mlstix.scan.remote._state import Row, StateStore
from mlstix.scan.remote._work import ObjectResult, Work, reused, scan_object
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


# what decides an object's findings, besides the settings: a change in any of these files (a
# new rule, a fixed analyzer or range reader) makes every stored result stale
_RULE_SOURCES = (("mlstix.scan.models", ""), ("mlstix.scan.remote", ""),
                 ("mlstix.scan.rules", "models.yaml"))  # fmt: skip


@functools.cache
def rule_version() -> str:
    """The model scanner's rule version: a digest of its rules, analyzers and allowlists and of
    the range reader, so a state written by other rules is never reused, not even between two
    builds that carry the same version number."""
    digest = hashlib.sha256(__version__.encode())

    def walk(node: Any, name: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                if child.name != "__pycache__":
                    walk(child, f"{name}/{child.name}")
            elif child.name.endswith((".py", ".pyc", ".yaml", ".json", ".txt")):
                digest.update(f"{name}/{child.name}\0".encode())
                digest.update(child.read_bytes())

    for package, only in _RULE_SOURCES:
        root = resources.files(package)
        if only:
            digest.update(f"{package}/{only}\0".encode())
            digest.update((root / only).read_bytes())
        else:
            walk(root, package)
    return digest.hexdigest()[:16]


def _fingerprint(work: Work) -> str:
    text = json.dumps(
        [__version__, rule_version(), sorted(work.allow), repr(work.limits), work.hash_file,
         work.max_bytes]
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


def _hit_json(h: Hit) -> dict[str, Any]:
    return {"rule_id": h.rule_id, "message": h.message, "member": h.member, "line": h.line,
            "evidence": h.evidence}  # fmt: skip


def _hits_of(row: Row) -> tuple[Hit, ...] | None:
    """The hits stored in ``row``; ``None`` for a damaged row, or one naming a rule this
    scanner does not have (its object is scanned again)."""
    known = _known_rules()
    hits: list[Hit] = []
    for d in row.hits:
        if not isinstance(d, dict):
            return None
        rule_id, message, member = d.get("rule_id"), d.get("message"), d.get("member")
        line, evidence = d.get("line"), d.get("evidence") or {}
        if not (isinstance(rule_id, str) and rule_id in known and isinstance(message, str)
                and (member is None or isinstance(member, str))
                and (line is None or (isinstance(line, int) and not isinstance(line, bool)))
                and isinstance(evidence, dict)):  # fmt: skip
            return None
        hits.append(Hit(rule_id, message, member, line, dict(evidence)))
    return tuple(hits)


@functools.cache
def _known_rules() -> frozenset[str]:
    return frozenset(load_rules("models").ids)


def _list_all(paths: list[str], executor: Executor) -> list[list[RemoteObject]]:
    return [executor.list_location(parse(p)) for p in paths]


def _kept(
    listed: list[list[RemoteObject]], paths: list[str], ignored: Callable[[str], bool]
) -> list[RemoteObject]:
    """The listed objects outside ``--exclude``, each once, in URL order."""
    found: dict[str, RemoteObject] = {}
    for objs in listed:
        for o in keep(objs, ignored):
            found.setdefault(o.url, o)
    if not found:  # as for local paths: an empty scan is not a clean one
        raise UsageError(f"nothing to scan: no objects under {', '.join(paths)} (after --exclude)")
    return sorted(found.values(), key=lambda o: o.url)


def _make_executor(options: ScanOptions, remote: RemoteOptions) -> Executor:
    if remote.executor == "ray":
        return RayExecutor(remote.ray_address, remote.in_flight)
    return LocalExecutor(remote.in_flight, isolate=options.isolate)


def _import_sdks(locations: list[Location]) -> None:
    """Import the stores' SDKs (a third of a second for S3's) once, before the listing is
    forked, so that it and the workers inherit them; a missing one is the listing's error."""
    import fsspec  # type: ignore[import-untyped]

    for loc in locations:
        with contextlib.suppress(ImportError):
            fsspec.get_filesystem_class(loc.protocol)


def _warm_analyzers() -> None:
    """Import the format analyzers here, once, so that the forked workers inherit them."""
    from mlstix.scan.models._sniff import analyzers

    analyzers()


# At most this many changed objects, of at most this many bytes in all, are analysed one after
# the other by a worker forked from the caller, whose reads the agent does; more go to the
# worker pool the agent forks. Each pool worker makes its own store client (0.12 s of CPU for
# S3's): for the handful a nightly rescan finds, that costs more than the round trips it
# overlaps (8 changed objects of a 120-model registry, load average 6 on 2 cores: 0.9 s of CPU
# and 1.9 to 2.2 s inline, 1.35 s and 2.5 to 3.7 s in a pool), while pickles read whole are
# better spread over the pool
_INLINE = 16
_INLINE_BYTES = 1 << 30


def _inline(work: Work, reads: Any, todo: list[RemoteObject]) -> Iterator[ObjectResult]:
    """What the caller's worker runs (see :class:`._background.Worker`): each object in turn,
    read through the agent at the end of ``reads``, under the pool workers' memory limit."""
    import faulthandler
    import resource

    from mlstix.scan.remote import _relay

    faulthandler.disable()  # as a pool worker: a crash is the parent's one line
    if work.limits.max_memory > 0:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (work.limits.max_memory,) * 2)
    gc.enable()  # forked from a process that may have paused it
    _relay.use(reads)
    for obj in todo:
        yield scan_object(obj, work)


def _pool(jobs: int, work: Work, todo: list[RemoteObject]) -> Iterator[ObjectResult]:
    """What the agent runs on many changed objects: the isolated worker pool, forked from it
    (the workers inherit its store SDK and the analyzers, imported here once)."""
    _warm_analyzers()
    yield from LocalExecutor(jobs).scan(todo, work)


def _deadline(work: Work) -> float:
    """Seconds the agent may take over one object it analyses itself, as a pool worker."""
    from mlstix.scan.models._pool import _grace

    timeout = work.limits.timeout
    return timeout + _grace(timeout) if timeout > 0 else 0.0


def scan_remote(
    paths: Iterable[str],
    kb: KnowledgeBase | Callable[[], KnowledgeBase],
    options: ScanOptions | None = None,
    remote: RemoteOptions | None = None,
    *,
    stats: RemoteStats | None = None,
    progress: Callable[[ObjectResult], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    agent: Agent[list[list[RemoteObject]]] | None = None,
) -> Report:
    """Scan the remote locations ``paths`` (``s3://``, ``gs://``, ``az://``, ``hf://``).

    ``agent``: from :func:`~._listing.start_agent` with the same ``paths``, forked by a caller
    before it imported the scanner (the CLI does); this function then owns it and ends it."""
    options = options or ScanOptions(hash_files=False)
    remote = remote or RemoteOptions()
    stats = stats if stats is not None else RemoteStats()
    paths = list(paths)
    forks = remote.executor == "local" and options.isolate  # as the workers will
    store: StateStore | None = None
    try:
        locations = [parse(p) for p in paths]  # bad URLs fail before anything is opened
        work = Work(options.policy.allow_imports, options.limits, options.hash_files,
                    remote.max_bytes_per_file)  # fmt: skip
        fingerprint = _fingerprint(work)
        store = StateStore(remote.state) if remote.state else None  # a bad state fails first
        executor = _make_executor(options, remote)
    except BaseException:
        if store:
            store.close()
        if agent is not None:
            agent.cancel()
        raise
    if agent is not None and not forks:
        agent.cancel()
        agent = None
    listing: Pending[list[list[RemoteObject]]] | None = None
    try:
        if forks:
            listing = agent = agent or start_agent(paths)
        else:
            listing = in_thread(lambda: _list_all(paths, executor))
        with paused_gc():
            previous = store.load(loc.url for loc in locations) if store else {}
            knowledge = kb if isinstance(kb, KnowledgeBase) else kb()
            if agent is not None:
                _warm_analyzers()  # while the agent lists: a worker forked here inherits them
            listed = listing.result()
        objs = _kept(listed, paths, options.policy.ignored)
        listing = None
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
        if agent and agent.listed and todo:
            if len(todo) <= _INLINE and sum(o.size for o in todo) <= _INLINE_BYTES:
                if not work.hash_file:
                    agent.prefetch(todo, work.max_bytes)
                worker = Worker(functools.partial(_inline, work, agent.reads), todo, (agent.conn,))
                answers = worker.results(_deadline(work))
            else:
                answers = agent.serve(functools.partial(_pool, remote.in_flight, work), todo)
            answered: set[str] = set()
            for res in answers:
                answered.add(res.obj.url)
                results.append(res)
                if progress:
                    progress(res)
            todo = [o for o in todo if o.url not in answered]  # a process died or stalled
            if todo:
                agent.cancel()  # a worker ended mid-read leaves its pipe to the agent unusable
                _import_sdks(locations)
                _warm_analyzers()
        for res in executor.scan(todo, work) if todo else ():  # nothing changed: no workers
            results.append(res)
            if progress:
                progress(res)
    except BaseException:
        if listing is not None:
            listing.cancel()
        if agent is not None:
            agent.cancel()
        if store:
            store.close()
        raise
    finally:
        if agent is not None:
            agent.finish()
        executor.close()
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
        scanned.append(ScannedFile(r.obj.url, res.kind, res.sha256, bytes_fetched=r.fetched,
                                   version=r.version or None))  # fmt: skip
        findings.extend(to_finding(kb, h, r.obj.url, options.policy) for h in res.hits)
    ids = load_rules("models").ids
    ran = [r for r in ids if r not in _LOCAL_ONLY] if scanned else []
    return Report.build("models", scanned, findings, errors, rules_run=ran)
