"""The per-object unit of work: scan one remote object with the model scanner's own per-file
function (:func:`mlstix.scan.models.engine.scan_file`) over a range reader. It is a plain
picklable function of plain values, so it runs the same in this process, in the isolated
worker pool, and as a Ray task.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, cast

from mlstix.scan.models._context import Hit, Limits
from mlstix.scan.models._walk import Target
from mlstix.scan.models.engine import FileResult, scan_file
from mlstix.scan.remote._listing import RemoteObject
from mlstix.scan.remote._reader import RangeFile

__all__ = ["ObjectResult", "Work", "failed", "reused", "scan_object"]


@dataclass(frozen=True)
class Work:
    """What every object's scan needs besides the object (sent once per task)."""

    allow: tuple[str, ...]
    limits: Limits
    hash_file: bool = False
    max_bytes: int = 0  # per object; 0: no cap


@dataclass(frozen=True)
class ObjectResult:
    obj: RemoteObject
    result: FileResult
    fetched: int  # bytes fetched for this object in this run (0: reused from the state)
    requests: int
    reused: bool = False
    version: str = ""  # the version analysed (ETag, VersionId, generation, commit)


def _target(obj: RemoteObject) -> Target:
    return Target(obj.url, obj.url, obj.root, obj.size)


def scan_object(obj: RemoteObject, work: Work) -> ObjectResult:
    """Fetch what the analysis of ``obj`` reads and analyse it; never raises for the object's
    sake (a fetch failure is the result's error)."""
    from mlstix.scan.remote import _relay
    from mlstix.scan.remote._fs import filesystem

    opened: list[RangeFile] = []
    agent = _relay.current()  # a worker of the caller's: the agent reads for it

    @contextlib.contextmanager
    def opener(target: Target) -> Iterator[IO[bytes]]:
        version = opened[0].version if opened else obj.version
        relay = _relay.client(agent, obj, version) if agent is not None else None
        fs = filesystem(obj.location) if relay is None else None
        reader = RangeFile(fs, obj.path, obj.size, max_bytes=work.max_bytes, version=version,
                           identity=obj.identity, relay=relay)  # fmt: skip
        opened.append(reader)
        try:
            if not work.hash_file:
                reader.prefetch()
            yield cast("IO[bytes]", reader)
        finally:
            reader.close()

    result = scan_file(_target(obj), work.allow, work.limits, work.hash_file, opener)
    fetched = sum(r.fetched for r in opened)
    requests = sum(r.requests for r in opened)
    version = opened[0].version if opened else obj.version
    return ObjectResult(obj, result, fetched, requests, version=version)


def failed(obj: RemoteObject, why: str) -> ObjectResult:
    """The result of an object whose analysis process died or stalled."""
    result = FileResult(_target(obj), "unknown", None, (Hit("models/unreadable", why),), why)
    return ObjectResult(obj, result, 0, 0)


def reused(
    obj: RemoteObject, kind: str | None, sha256: str | None, hits: tuple[Hit, ...]
) -> ObjectResult:
    result = FileResult(_target(obj), kind, sha256, hits)
    return ObjectResult(obj, result, 0, 0, reused=True, version=obj.version)
