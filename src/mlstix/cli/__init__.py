"""mlstix.cli: the ``mlstix`` command (:mod:`mlstix.cli.main`).

Ctrl-C while the command is still importing (the first tenth of a second or so, before
:mod:`mlstix.cli.main` can catch it) ends the process as a Ctrl-C anywhere else does: one line,
exit 130, no traceback. Only an interrupt nothing caught reaches this hook.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType

_previous_hook = sys.excepthook


def _uncaught(
    kind: type[BaseException], value: BaseException, traceback: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        try:
            sys.stderr.write("\ninterrupted\n")
            sys.stderr.flush()
        finally:
            os._exit(130)
    _previous_hook(kind, value, traceback)


sys.excepthook = _uncaught
