"""The fast paths of ``scan models`` keep the results of the plain ones: a small file read once
(hashed and analysed from memory) and a large one hashed as a stream give the file's real
SHA-256 and the same findings; tasks sent to a worker in batches, and results sent back in
groups, still cost only the task whose analysis crashed or hung."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from mlstix.findings.model import ScannedFile
from mlstix.scan.models import engine
from mlstix.scan.models._pool import run_isolated
from mlstix.scan.models._walk import Target

from . import builders as b
from .conftest import Scan, rules


def _digests(scanned: tuple[ScannedFile, ...]) -> dict[str, str | None]:
    return {Path(s.path).name: s.sha256 for s in scanned}


@pytest.mark.parametrize("jobs", [1, 2])
def test_hashes_are_the_files_sha256_on_both_paths(tmp_path: Path, scan: Scan, jobs: int) -> None:
    small = b.call_pickle("os", "system", "id")
    large = small + b"\0" * (engine._READ_ONCE + 4096)  # padding after STOP
    (tmp_path / "small.pkl").write_bytes(small)
    (tmp_path / "large.pkl").write_bytes(large)
    (tmp_path / "edge.pkl").write_bytes(small + b"\0" * (engine._READ_ONCE - len(small)))
    report = scan(tmp_path, jobs=jobs)
    assert _digests(report.scanned) == {
        "small.pkl": hashlib.sha256(small).hexdigest(),
        "large.pkl": hashlib.sha256(large).hexdigest(),
        "edge.pkl": hashlib.sha256((tmp_path / "edge.pkl").read_bytes()).hexdigest(),
    }
    for name in ("small.pkl", "large.pkl", "edge.pkl"):
        assert "models/pickle-dangerous-import" in rules(report, name), name


def test_read_once_and_streamed_give_the_same_findings(
    tmp_path: Path, scan: Scan, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i, mod in enumerate(["os", "subprocess", "builtins"]):
        (tmp_path / f"p{i}.pkl").write_bytes(b.call_pickle(mod, "system", "id"))
    (tmp_path / "ok.npy").write_bytes(b.npy("<f4", (2,), b"\0" * 8))
    once = scan(tmp_path, isolate=False)
    monkeypatch.setattr(engine, "_READ_ONCE", -1)  # every file read as a stream
    streamed = scan(tmp_path, isolate=False)
    assert once.to_json() == streamed.to_json()


def _crash_on_three(task: int) -> int:
    if task == 3:
        os._exit(7)
    return task * 10


def test_a_crash_inside_a_batch_costs_only_its_task() -> None:
    tasks = list(range(40))  # more than one batch per worker
    got = list(
        run_isolated(
            tasks,
            _crash_on_three,
            lambda task, why: (task, why),
            jobs=2,
            timeout=30,
            reading=lambda task: 0.0,
            memory=0,
        )
    )
    assert len(got) == len(tasks)
    failed = [r for r in got if isinstance(r, tuple)]
    assert failed == [(3, "the analysis process exited with status 7")]
    assert sorted(r for r in got if isinstance(r, int)) == [t * 10 for t in tasks if t != 3]


def _stuck_on_five(task: int) -> int:
    if task == 5:
        time.sleep(60)
    return task * 10


def test_a_stuck_task_inside_a_group_is_the_one_that_fails() -> None:
    """Results come back in groups: the finished tasks before the stuck one, not yet sent
    when the worker is killed, are analysed again; only the stuck one fails."""
    tasks = list(range(20))
    got = list(
        run_isolated(
            tasks,
            _stuck_on_five,
            lambda task, why: (task, why),
            jobs=1,
            timeout=1,
            reading=lambda task: 0.0,
            memory=0,
        )
    )
    failed = [r for r in got if isinstance(r, tuple)]
    assert failed == [(5, "the analysis took longer than 2 s")]
    assert sorted(r for r in got if isinstance(r, int)) == [t * 10 for t in tasks if t != 5]


def test_automatic_jobs_follow_the_work() -> None:
    """``-j 0``: one worker for a small scan (a second one costs more than it saves), more as
    the expected work grows, never more than the usable cores."""
    small = [Target("a", "a", "/", 7_000)] * 100
    big = [Target("a", "a", "/", 64 << 30)] * 8
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert engine._auto_jobs(small, hashing=True) == 1
    assert engine._auto_jobs(big, hashing=True) == (cores or 1)  # 8 x 64 GiB: minutes of work
    assert engine._auto_jobs(big, hashing=True) >= engine._auto_jobs(big, hashing=False) >= 1


def _unsendable_on_seven(task: int) -> object:
    return (lambda: task) if task == 7 else task * 10  # a lambda cannot be pickled


def test_a_result_that_cannot_be_sent_costs_only_its_task() -> None:
    tasks = list(range(20))
    got = list(
        run_isolated(
            tasks,
            _unsendable_on_seven,
            lambda task, why: (task, why),
            jobs=1,
            timeout=30,
            reading=lambda task: 0.0,
            memory=0,
        )
    )
    failed = [r for r in got if isinstance(r, tuple)]
    assert failed == [(7, "the analysis process ended without a result")]
    assert sorted(r for r in got if isinstance(r, int)) == [t * 10 for t in tasks if t != 7]
