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
