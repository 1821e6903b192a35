"""Ctrl-C during a long call into C that writes nothing.

Python runs its Ctrl-C handler only between bytecodes: ``json.loads`` of a 200 MB report holds
the interpreter (and the GIL) for 10 s and more, and Ctrl-C waited for it (DESIGN.md: exit 130
within a second). Inside :func:`abrupt_ctrl_c`, SIGINT has the system's default action: the
process ends at once, which a shell reports as exit 130. Only for work that writes nothing, so
nothing is left half-written; only on the main thread of a process whose Ctrl-C is Python's.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["abrupt_ctrl_c"]


@contextmanager
def abrupt_ctrl_c() -> Iterator[None]:
    """Within the block, Ctrl-C ends the process at once (see the module docstring)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield  # a worker thread, or someone else's handler (a test runner, an embedding app)
        return
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
