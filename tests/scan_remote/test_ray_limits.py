"""A Ray task's analysis has the local executor's limits: it runs in a child process with the
address-space cap (``RLIMIT_AS``) and the deadline, so a file that needs more than the cap is
an errors entry for that file and the Ray worker that ran the task goes on. The task function
runs here as a Ray worker runs it; ``test_ray.py`` runs it on a real cluster."""

from __future__ import annotations

import mmap
from typing import Any

import pytest

from mlstix.scan.models import Limits
from mlstix.scan.remote._executors import scan_capped
from mlstix.scan.remote._listing import RemoteObject
from mlstix.scan.remote._work import Work, scan_object

from . import registry


def _put(fs: Any, name: str, data: bytes) -> RemoteObject:
    fs.pipe(f"/bucket/{name}", data)
    return RemoteObject(f"memory://bucket/{name}", "memory://bucket", f"/bucket/{name}",
                        len(data), "1")  # fmt: skip


def test_a_task_gives_the_in_process_result(memfs: Any) -> None:
    obj = _put(memfs, "model.pkl", registry.PAYLOAD)
    work = Work((), Limits())
    capped = scan_capped(obj, work)
    assert capped == scan_object(obj, work)
    assert any(h.evidence.get("import") == "os.system" for h in capped.result.hits)


def test_an_analysis_past_the_memory_cap_is_an_error_entry_and_the_worker_goes_on(
    memfs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlstix.scan.remote import _executors

    obj = _put(memfs, "model.pkl", registry.PAYLOAD)

    def greedy(o: RemoteObject, work: Work) -> Any:
        ballast = bytearray(64 << 20)  # past glibc's mmap threshold: new address space
        return scan_object(o, work) if ballast else None

    monkeypatch.setattr(_executors, "scan_object", greedy)  # inherited by the forked child
    res = scan_capped(obj, Work((), Limits(max_memory=16 << 20)))
    assert res.obj == obj and res.result.error is not None
    assert [h.rule_id for h in res.result.hits] == ["models/unreadable"]
    # this process (the Ray worker) was not capped, and the default cap leaves room
    assert greedy(obj, Work((), Limits())).result.error is None
    assert scan_capped(obj, Work((), Limits())).result.error is None


def test_the_cap_is_on_top_of_the_worker_s_own_mappings(memfs: Any) -> None:
    """A Ray worker maps the node's object store (gigabytes of address space) before any
    task: a cap counted from zero would leave a task no room at all."""
    obj = _put(memfs, "model.pkl", registry.PAYLOAD)
    ballast = mmap.mmap(-1, 2 << 30)  # 2 GiB of address space, not of memory
    try:
        res = scan_capped(obj, Work((), Limits(max_memory=256 << 20)))
    finally:
        ballast.close()
    assert res.result.error is None
    assert any(h.evidence.get("import") == "os.system" for h in res.result.hits)


def test_a_task_past_the_deadline_is_an_error_entry(memfs: Any, monkeypatch: Any) -> None:
    import time

    from mlstix.scan.remote import _work

    obj = _put(memfs, "slow.pkl", registry.PAYLOAD)

    def stuck(*args: object, **kwargs: object) -> object:
        time.sleep(60)  # a parser spinning where no Python signal reaches
        raise AssertionError("not reached")

    monkeypatch.setattr(_work, "scan_file", stuck)  # inherited by the forked child
    start = time.monotonic()
    res = scan_capped(obj, Work((), Limits(timeout=0.5)))
    assert time.monotonic() - start < 10
    assert res.result.error is not None and "longer than" in res.result.error
