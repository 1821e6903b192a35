"""A worker of the analysis pool ends when the process that started it dies abruptly.

The fork copies the parent's ends of every pipe into each worker; a worker that kept them held
its own pipe open after the parent died, waited in ``recv`` for ever, and was left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.procs import left_running

_PARENT = textwrap.dedent(
    """
    import multiprocessing, os, signal, sys
    from mlstix.scan.models._pool import run_isolated

    def die():
        pids = [p.pid for p in multiprocessing.active_children()]
        with open(sys.argv[1], "w") as f:
            f.write(" ".join(map(str, pids)))
        os.kill(os.getpid(), signal.SIGKILL)

    list(run_isolated(list(range(4)), abs, lambda t, why: None, jobs=2, timeout=30.0,
                      memory=0, meanwhile=die))
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_workers_end_when_the_parent_is_killed(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", _PARENT, str(pids_file)], env=env, timeout=60, check=False
    )
    assert proc.returncode == -9
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) == 2
    left = left_running(pids, 10)
    assert not left, f"workers {left} outlived their parent"
