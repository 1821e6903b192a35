"""The agent of a local scan (the forked process that lists) analyses what changed: a few objects
itself, more in the pool forked from it. What it does not answer (it crashed, or an object
outlived the deadline) is analysed again in this process's pool: a hostile file costs time,
never a result, and every object is in the report with what the real analysis finds."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from mlstix.scan.models import Limits, ScanOptions
from mlstix.scan.remote import RemoteOptions, RemoteStats, scan_remote
from mlstix.scan.remote import _scan as scan_module
from mlstix.scan.remote._work import scan_object

from . import registry

_EVIL = {"memory://reg/b/evil.pt", "memory://reg/d/evil.pkl"}


@pytest.fixture
def reg(memfs: Any) -> Any:
    memfs.pipe("/reg/a/model.safetensors", registry.safetensors(2, 1 << 16, b"a"))
    memfs.pipe("/reg/b/evil.pt", registry.torch_zip(registry.PAYLOAD, 1 << 16))
    memfs.pipe("/reg/c/model.pkl", registry.benign_pickle())
    memfs.pipe("/reg/d/evil.pkl", registry.PAYLOAD)
    return memfs


def _scan(kb: Any, limits: Limits | None = None, jobs: int = 2) -> tuple[Any, RemoteStats]:
    stats = RemoteStats()
    opts = ScanOptions(hash_files=False, limits=limits or Limits())
    report = scan_remote(["memory://reg"], kb, opts, RemoteOptions(in_flight=jobs), stats=stats)
    return report, stats


def _evil(report: Any) -> set[str]:
    return {f.location.path for f in report.findings if f.severity.value == "critical"}


@pytest.mark.parametrize("inline", [True, False], ids=["itself", "its-pool"])
def test_the_agent_analyses_every_object(
    reg: Any, kb: Any, inline: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mlstix.scan.remote import _executors

    parent = os.getpid()

    def spy(obj: Any, work: Any) -> Any:  # where each object was analysed
        (tmp_path / f"{os.getpid()}-{os.getppid()}").touch()
        return scan_object(obj, work)

    monkeypatch.setattr(scan_module, "_INLINE", 4 if inline else 0)
    monkeypatch.setattr(scan_module, "scan_object", spy)
    monkeypatch.setattr(_executors, "scan_object", spy)
    report, stats = _scan(kb)
    assert stats.analysed == stats.objects == 4 and not report.errors
    assert _evil(report) == _EVIL
    where = {tuple(map(int, p.name.split("-"))) for p in tmp_path.iterdir()}
    assert all(pid != parent for pid, _ in where)  # never here
    if inline:  # the agent itself, a child of this process
        assert len(where) == 1 and next(iter(where))[1] == parent
    else:  # the agent's workers
        assert where and all(ppid not in (parent, 1) for _, ppid in where)


def test_a_crash_in_the_agent_leaves_the_rest_to_this_process(
    reg: Any, kb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = os.getpid()

    def crash_on_pickles(obj: Any, work: Any) -> Any:
        if os.getpid() != parent and obj.url.endswith(".pkl"):
            os.kill(os.getpid(), signal.SIGSEGV)  # a C parser crashing on a hostile file
        return scan_object(obj, work)

    monkeypatch.setattr(scan_module, "scan_object", crash_on_pickles)  # the agent's only
    report, stats = _scan(kb)
    assert stats.analysed == stats.objects == 4 and not report.errors
    assert _evil(report) == _EVIL  # what the agent did not answer, analysed here in full


def test_an_object_past_the_deadline_in_the_agent_is_analysed_again_here(
    reg: Any, kb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = os.getpid()

    def stuck_on_pickles(obj: Any, work: Any) -> Any:
        if os.getpid() != parent and obj.url.endswith("evil.pkl"):
            time.sleep(60)  # spinning where no Python signal reaches
        return scan_object(obj, work)

    monkeypatch.setattr(scan_module, "scan_object", stuck_on_pickles)
    start = time.monotonic()
    report, stats = _scan(kb, Limits(timeout=0.2))
    assert time.monotonic() - start < 20
    assert stats.analysed == stats.objects == 4 and not report.errors
    assert _evil(report) == _EVIL


def test_the_worker_reads_through_the_agent(
    reg: Any, kb: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A worker forked from this process opens no store client: the agent reads each range it
    asks for, and the bytes fetched are those of a direct read."""
    from mlstix.scan.remote import _fs, _relay

    real_fs, real_client = _fs.filesystem, _relay.client

    def spy_fs(loc: Any) -> Any:
        (tmp_path / f"fs-{os.getpid()}").touch()
        return real_fs(loc)

    def spy_client(conn: Any, obj: Any, version: str) -> Any:
        (tmp_path / f"relay-{os.getpid()}").touch()
        return real_client(conn, obj, version)

    monkeypatch.setattr(_fs, "filesystem", spy_fs)
    monkeypatch.setattr(_relay, "client", spy_client)
    report, stats = _scan(kb)
    relayed = {p.name.split("-")[1] for p in tmp_path.glob("relay-*")}
    opened = {p.name.split("-")[1] for p in tmp_path.glob("fs-*")}
    assert relayed and opened and not relayed & opened and str(os.getpid()) not in relayed
    assert _evil(report) == _EVIL and not report.errors
    direct = RemoteStats()
    options = ScanOptions(hash_files=False, isolate=False)  # no agent, no worker: read here
    scan_remote(["memory://reg"], kb, options, RemoteOptions(), stats=direct)
    assert stats.per_object == direct.per_object and stats.requests == direct.requests


_STUCK_SCAN = """
import os, sys, time
import fsspec
from mlstix.kb.load import load_kb
from mlstix.scan.models import ScanOptions
from mlstix.scan.remote import _scan
from mlstix.scan.remote._work import scan_object

fsspec.filesystem("memory").pipe("/reg/a.pkl", b"\\\\x80\\\\x04N.")

def stuck(obj, work):
    with open(sys.argv[1], "w") as marker:
        marker.write(str(os.getpid()))
    time.sleep(60)
    return scan_object(obj, work)

_scan.scan_object = stuck
_scan.scan_remote(["memory://reg"], load_kb, ScanOptions(hash_files=False))
"""


def _session(sid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def test_the_agent_ends_with_the_scan_even_while_a_worker_runs(tmp_path: Path) -> None:
    """The scan's process killed outright (no cleanup runs) while its worker is busy: the
    agent sees its pipe close and ends; only the worker finishes what it was doing."""
    import subprocess
    import sys

    marker = tmp_path / "worker.pid"
    proc = subprocess.Popen([sys.executable, "-c", _STUCK_SCAN, str(marker)],
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, "no worker started"
            time.sleep(0.05)
        worker = int(marker.read_text())
        assert len(_session(proc.pid) - {proc.pid, worker}) == 1  # the agent
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while _session(proc.pid) - {worker} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _session(proc.pid) - {worker} == set()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
