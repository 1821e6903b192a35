"""A Ray task's analysis has the local executor's limits: it runs in a child process with the
address-space cap (``RLIMIT_AS``) and the deadline, so a file that needs more than the cap is
an errors entry for that file and the Ray worker that ran the task goes on. The task function
runs here as a Ray worker runs it; ``test_ray.py`` runs it on a real cluster."""

from __future__ import annotations

import mmap
import os
import pickle
from typing import Any

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
    obj = _put(memfs, "model.pkl", registry.hostile()["plain.pkl"])
    work = Work((), Limits())
    capped = scan_capped(obj, work)
    assert capped == scan_object(obj, work)
    assert any(h.evidence.get("import") == "os.system" for h in capped.result.hits)


def test_a_file_past_the_memory_cap_is_an_error_entry_and_the_worker_goes_on(memfs: Any) -> None:
    big = _put(memfs, "big.pkl", pickle.dumps(os.urandom(32 << 20), protocol=4))
    # the child may add 4 MiB to the address space it inherits: not enough to read 32 MiB
    res = scan_capped(big, Work((), Limits(max_memory=4 << 20)))
    assert res.result.error is not None and res.obj == big
    assert [h.rule_id for h in res.result.hits] == ["models/unreadable"]
    # this process (the Ray worker) was not capped: the same file scans in full here
    assert scan_object(big, Work((), Limits())).result.error is None
    assert scan_capped(big, Work((), Limits())).result.error is None  # the default cap


def test_the_cap_is_on_top_of_the_worker_s_own_mappings(memfs: Any) -> None:
    """A Ray worker maps the node's object store (gigabytes of address space) before any
    task: a cap counted from zero would leave a task no room at all."""
    obj = _put(memfs, "model.pkl", registry.hostile()["plain.pkl"])
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

    obj = _put(memfs, "slow.pkl", registry.hostile()["plain.pkl"])

    def stuck(*args: object, **kwargs: object) -> object:
        time.sleep(60)  # a parser spinning where no Python signal reaches
        raise AssertionError("not reached")

    monkeypatch.setattr(_work, "scan_file", stuck)  # inherited by the forked child
    start = time.monotonic()
    res = scan_capped(obj, Work((), Limits(timeout=0.5)))
    assert time.monotonic() - start < 10
    assert res.result.error is not None and "longer than" in res.result.error
