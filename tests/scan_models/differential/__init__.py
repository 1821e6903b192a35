"""Differential harness: run the real readers on the same bytes mlstix scans, and compare.

The real readers run in a separate, sandboxed process (:mod:`._worker`): CPython's
``pickle.Unpickler`` with a ``find_class`` that records ``(module, name)`` and returns an inert
stand-in, ``numpy.load(allow_pickle=True)`` through that unpickler, ``zipfile``, ``tarfile`` and
the decompressors (gzip, bz2, xz/lzma, zlib, zstd, lz4). Nothing is executed: every import a
pickle makes is replaced by a recording stand-in, and an audit hook refuses process, network,
import and file-writing events in the worker.

How to use it (part B's tests and ``benchmarks/fuzz_models.py`` do the same)::

    from tests.scan_models.differential import RealReaders, check_pickle

    with RealReaders() as real:                 # one worker process, reused for many inputs
        r = real.pickle(data)                   # also real.numpy / real.zip / real.tar /
        r.ok, r.error, r.invoked, r.resolved    #      real.decompress("zstd", data)
        problems = check_pickle(data, r)        # what mlstix missed on these bytes, or []

A :class:`RealResult` says whether the reader succeeded (``ok``), its error otherwise,
``inconclusive`` when the failure depends on the machine (memory, recursion, time), every name
``find_class`` resolved, and every invocation (``call`` of a name or of what a call returned,
``new`` through NEWOBJ/INST/OBJ or copyreg, ``build`` through ``__setstate__``) with its
depth (0: the imported name itself) and the strings among its arguments. ``check_pickle`` asserts
the two rules of issue 10: every non-allowlisted callable the real reader invokes is reported
by mlstix at high or above (resolved-only at medium or above), and mlstix reports an error
(``PickleResult.malformed``) exactly where the real reader fails.
"""

from __future__ import annotations

import base64
import io
import json
import os
import select
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from mlstix.scan.models.pickles.allowlist import ImportPolicy, normalize
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream
from mlstix.scan.models.pickles.result import PickleResult

__all__ = ["Invocation", "RealReaders", "RealResult", "check_pickle", "mlstix_levels"]

_WORKER = Path(__file__).with_name("_worker.py")


@dataclass(frozen=True)
class Invocation:
    module: str  # after pickle's Python 2 name mapping
    name: str
    how: str  # call | new | build | resolve
    depth: int  # 0: the imported name itself; 1+: something a call of it returned
    strings: tuple[str, ...] = ()

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class RealResult:
    ok: bool
    error: str | None = None
    inconclusive: bool = False
    views_disagree: bool = False  # pickle: a file with peek and io.BytesIO read differently
    events: tuple[Invocation, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def resolved(self) -> set[str]:
        return {e.qualname for e in self.events if e.how == "resolve"}

    @property
    def invoked(self) -> set[str]:
        return {e.qualname for e in self.events if e.how != "resolve" and e.depth == 0}


class RealReaders:
    """One sandboxed worker process running the real readers; restarted if it dies."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> RealReaders:
        return self

    def __exit__(
        self, exc: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
            self.proc = subprocess.Popen(
                [sys.executable, "-I", str(_WORKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        return self.proc

    def request(self, op: str, data: bytes, **extra: Any) -> RealResult:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        message = {"op": op, "data": base64.b64encode(data).decode(), "timeout": self.timeout}
        proc.stdin.write(json.dumps({**message, **extra}) + "\n")
        proc.stdin.flush()
        # the worker's alarm cannot stop a reader stuck in C code: wait a little longer, then
        # give up on it (one reply per request, so nothing is left buffered to be missed)
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout + 10)
        if not ready:
            self.close()
            return RealResult(False, "real reader stuck", inconclusive=True)
        line = proc.stdout.readline()
        if not line:  # the worker died (a crash in a C reader, the address-space cap)
            self.close()
            return RealResult(False, "real reader process died", inconclusive=True)
        reply = json.loads(line)
        events = tuple(
            Invocation(
                *normalize(e["module"], e["name"]), e["how"], e["depth"], tuple(e["strings"])
            )
            for e in reply.pop("events")
        )  # fmt: skip
        return RealResult(
            ok=reply.pop("ok"),
            error=reply.pop("error", None),
            inconclusive=reply.pop("inconclusive", False),
            views_disagree=reply.pop("views_disagree", False),
            events=events,
            detail=reply,
        )

    def pickle(self, data: bytes, *, stacked: bool = False, findable: bool = False) -> RealResult:
        """``pickle.load`` once (or, ``stacked``, again and again to the end of the data).
        ``findable``: an import of a module the worker's environment does not hold fails, as
        in a real process (otherwise every name resolves to a stand-in)."""
        return self.request("pickle", data, stacked=stacked, findable=findable)

    def pickle_py(self, data: bytes, *, stacked: bool = False) -> RealResult:
        """``pickle._Unpickler`` (pure Python; joblib's unpickler is built on it)."""
        return self.request("pickle_py", data, stacked=stacked)

    def numpy(self, data: bytes) -> RealResult:
        return self.request("numpy", data)

    def joblib(self, data: bytes) -> RealResult:
        """``joblib.load``'s unpickler on an uncompressed joblib stream (arrays included)."""
        return self.request("joblib", data)

    def zip(self, data: bytes) -> RealResult:
        return self.request("zip", data)

    def tar(self, data: bytes) -> RealResult:
        return self.request("tar", data)

    def decompress(self, kind: str, data: bytes) -> RealResult:
        """``kind``: gzip, bz2, xz, lzma, zlib, zstd, lz4; ``detail["data"]`` is base64."""
        return self.request("decompress", data, kind=kind)


_LEVEL = {"critical": 4, "high": 3, "medium": 2, "low": 1}
_RULE_LEVEL = {
    "models/pickle-dangerous-import": 4,
    "models/pickle-gadget-call": 4,
    "models/pickle-unallowed-call": 3,
    "models/pickle-unknown-import": 2,
}


def mlstix_levels(result: PickleResult) -> dict[str, int]:
    """The highest severity mlstix reports for each import (4 critical ... 2 medium), and
    ``"*"`` for names it reports without knowing them (computed imports, call chains)."""
    levels: dict[str, int] = {}
    for hit in result.hits(None, "pickle"):
        level = _RULE_LEVEL.get(hit.rule_id)
        if level is None:
            continue
        key = str(hit.evidence.get("import") or "*")
        if "call" in hit.evidence or key.startswith("extension:"):
            key = "*"
        levels[key] = max(levels.get(key, 0), level)
    return levels


def check_pickle(
    data: bytes, real: RealResult, policy: ImportPolicy | None = None, *, stacked: bool = False
) -> list[str]:
    """What mlstix gets wrong on ``data`` compared with the real reader (empty: agrees)."""
    policy = policy or ImportPolicy()
    result = analyze_pickle_stream(io.BytesIO(data), policy, stacked=stacked)
    levels = mlstix_levels(result)
    problems: list[str] = []
    if real.inconclusive:
        return problems
    if result.frame_straddle and result.malformed is not None:
        return problems  # an error for the file: readers with and without peek disagree
    if not real.ok and result.malformed is None:
        problems.append(f"real reader fails ({real.error}) but mlstix reports no error")
    if real.ok and result.malformed is not None:
        problems.append(f"real reader succeeds but mlstix reports malformed: {result.malformed}")
    for ev in real.events:
        if ev.module == "<persistent>" or _verdict(policy, ev) == "allowed":
            continue
        need = 2 if ev.how == "resolve" else 3
        if ev.how == "resolve" and ev.qualname == "builtins.getattr":
            continue  # judged by what it resolves (and critical once it is misused)
        got = levels.get(ev.qualname, 0)
        if ".<instance>." in ev.name:  # mlstix resolves methods of allowlisted classes only
            got = max(got, levels.get("builtins.getattr", 0))
        if ev.depth > 0:  # a call of what a call returned: reported on its root or as a chain
            got = max(got, levels.get("*", 0))
        if got < need:
            problems.append(
                f"real reader {ev.how}s {ev.qualname} (depth {ev.depth}) "
                f"but mlstix reports it at level {got} < {need}"
            )
    return problems


def _verdict(policy: ImportPolicy, ev: Invocation) -> str:
    cls, sep, attr = ev.name.partition(".<instance>.")
    if sep:
        return policy.method_verdict(ev.module, cls, attr)
    return policy.verdict(ev.module, ev.name)
