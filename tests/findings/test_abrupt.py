"""Ctrl-C during a long parse in C ends the process at once (json.loads of a 230 MB report
held Ctrl-C for 8-12 s: Python runs its handler only between bytecodes)."""

from __future__ import annotations

import subprocess
import sys
import time

_PROGRAM = """
import os, signal, sys
from mlstix.findings._abrupt import abrupt_ctrl_c
with abrupt_ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)  # as a Ctrl-C that lands inside json.loads
    signal.pause()  # a Python handler would wait for this to return: it never does
print("not reached")
"""

_AFTER = """
import os, signal
from mlstix.findings._abrupt import abrupt_ctrl_c
with abrupt_ctrl_c():
    pass
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
try:
    os.kill(os.getpid(), signal.SIGINT)
    signal.pause()
except KeyboardInterrupt:
    print("python's Ctrl-C is back")
"""


def _run(program: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )


def test_ctrl_c_inside_ends_the_process_at_once() -> None:
    begin = time.monotonic()
    proc = _run(_PROGRAM)
    assert proc.returncode == -2  # killed by SIGINT: a shell says 130
    assert "not reached" not in proc.stdout and "Traceback" not in proc.stderr
    assert time.monotonic() - begin < 30


def test_python_ctrl_c_is_restored_after_the_block() -> None:
    proc = _run(_AFTER)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "python's Ctrl-C is back"
