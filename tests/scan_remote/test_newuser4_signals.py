"""Ctrl-C reaching the remote scan's agent or a process forked from it ends that process, even
when the signal lands where Python swallows the handler's exception (an at-fork hook such as
logging's lock release, a finalizer): seen as a child that outlived ``mlstix scan models
s3://... --state`` interrupted about two seconds in, holding the terminal's pipes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.procs import left_running

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

_CHILD = """
import os, signal, sys, time
from mlstix.scan.remote._background import _stop
signal.signal(signal.SIGINT, _stop)
# the signal arrives while an at-fork hook runs in the child: its SystemExit is unraisable
os.register_at_fork(after_in_child=lambda: os.kill(os.getpid(), signal.SIGINT))
pid = os.fork()
if pid == 0:
    time.sleep(30)
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


def test_a_stop_signal_swallowed_in_an_at_fork_hook_still_ends_the_child() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=25
    )
    assert done.stdout.strip() == "143", done.stderr
    assert time.monotonic() - started < 10


_PARENT = """
import multiprocessing, os, signal, sys, time
from mlstix.scan.remote._background import _stop
signal.signal(signal.SIGINT, _stop)
worker = multiprocessing.get_context("fork").Process(target=time.sleep, args=(30,), daemon=True)
worker.start()
print(worker.pid, flush=True)
# the agent forks another pool worker and the signal lands in its own at-fork hook
os.register_at_fork(after_in_parent=lambda: os.kill(os.getpid(), signal.SIGINT))
if os.fork() == 0:
    os._exit(0)
time.sleep(30)
"""


def _worker_outlives(script: str, expected: int | None) -> list[int]:
    """Run ``script``, which prints the pid of a worker it forked and then ends; the worker's
    pid if it is still running 3 s later. ``expected``: the script's exit status, if checked."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    worker = int(proc.stdout.readline())
    try:
        code = proc.wait(timeout=10)
        if expected is not None:
            assert code == expected
        return left_running([worker], 3)
    finally:
        proc.kill()
        left_running([worker], 0)
        proc.communicate()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_the_stopped_agent_takes_its_pool_workers_with_it() -> None:
    # seen: eight pool workers, orphaned, blocked reading their pipes 30 s after the Ctrl-C
    assert _worker_outlives(_PARENT, 143) == []


_AGENT = """
import multiprocessing, time
from mlstix.scan.remote._background import _agent
ctx = multiprocessing.get_context("fork")
conn, conn_child = ctx.Pipe()
reads, reads_child = ctx.Pipe()

def listing():
    worker = ctx.Process(target=time.sleep, args=(30,), daemon=True)
    worker.start()
    print(worker.pid, flush=True)
    raise SystemExit(143)  # a stop unwinding while the pool was still starting its workers

_agent(conn_child, reads_child, listing, ())
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_an_agent_ending_leaves_no_worker_behind() -> None:
    # the agent ends with os._exit, so multiprocessing's exit handler never ends its daemons
    assert _worker_outlives(_AGENT, None) == []
