"""Shared rich consoles: results to stdout, diagnostics to stderr.

When stdout is not a terminal (piped, redirected), plain lines are not wrapped (``soft_wrap``):
a URL or a path stays whole for ``grep`` and for the next program.
"""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["console", "err_console"]

console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
