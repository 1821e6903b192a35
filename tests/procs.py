"""Watching for processes a command should not leave behind (tests that kill a parent)."""

from __future__ import annotations

import os
import time


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs. A zombie has ended: only its parent may reap it, and on some
    machines (containers whose PID 1 reaps nothing) orphans stay zombies."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def left_running(pids: list[int], seconds: float) -> list[int]:
    """The ``pids`` still running after up to ``seconds``; those are killed before returning,
    so a failing test leaves nothing behind either."""
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in pids if alive(p)]
    for pid in left:
        os.kill(pid, 9)
    return left
