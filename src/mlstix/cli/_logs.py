"""What the ``mlstix`` command does with log records nothing else handles.

:mod:`logging` prints such records through :data:`logging.lastResort`, with their tracebacks.
:class:`OneLineLog` stands in for it: our own records (``mlstix.*``, warnings and up) stay, one
line each; a library's records are dropped below CRITICAL: its failures reach us as exceptions
and are reported once, as ``error: ...`` (gcsfs, for one, logs the whole traceback of an
unreachable endpoint before raising it).

:mod:`mlstix.cli.main` imports this module only once :mod:`logging` itself is loaded (most
commands never log, and importing :mod:`logging` for nothing cost every command about 4 ms).
"""

from __future__ import annotations

import logging
import sys

__all__ = ["OneLineLog", "install"]


class OneLineLog(logging.Handler):
    """One line on stderr per record of ours; a library's records below CRITICAL dropped."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        ours = record.name == "mlstix" or record.name.startswith("mlstix.")
        if not ours and record.levelno < logging.CRITICAL:
            return
        try:
            lines = record.getMessage().strip().splitlines() or [""]
            sys.stderr.write(f"{record.levelname.lower()}: {lines[0]}\n")
            sys.stderr.flush()
        except Exception:  # a log line must never become the failure
            self.handleError(record)


def install() -> None:
    """Put a :class:`OneLineLog` in place of :data:`logging.lastResort`."""
    logging.lastResort = OneLineLog()
