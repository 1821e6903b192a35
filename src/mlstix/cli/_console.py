"""Shared rich consoles: results to stdout, diagnostics to stderr.

When stdout is not a terminal (piped, redirected), plain lines are not wrapped (``soft_wrap``):
a URL or a path stays whole for ``grep`` and for the next program.
"""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["console", "err_console"]


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """The reader left (``mlstix kb list | head``). rich would exit 1, which a scan's caller
        reads as "findings": hand it to ``mlstix.cli.main``, which exits 141 quietly."""
        self.quiet = True
        raise BrokenPipeError


console = _Console(highlight=False, soft_wrap=not sys.stdout.isatty())
err_console = _Console(stderr=True, highlight=False, soft_wrap=True)
