"""Shared rich consoles: results to stdout, diagnostics to stderr.

When stdout is not a terminal (piped, redirected), plain lines are not wrapped (``soft_wrap``):
a URL or a path stays whole for ``grep`` and for the next program.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

__all__ = ["console", "err_console", "progress_bar", "utf8"]


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """The reader left (``mlstix kb list | head``). rich would exit 1, which a scan's caller
        reads as "findings": hand it to ``mlstix.cli.main``, which exits 141 quietly."""
        self.quiet = True
        raise BrokenPipeError


console = _Console(highlight=False, soft_wrap=not sys.stdout.isatty())
err_console = _Console(stderr=True, highlight=False, soft_wrap=True)


def utf8(text: str) -> str:
    """A file name that is not UTF-8 reaches us with lone surrogates (``\\udcff``), which no
    UTF-8 output (SARIF URIs, STIX ids, HTML, a terminal) can hold: show its bytes as ``\\xff``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file name decodes to (from JSON, say)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


@contextmanager
def progress_bar(
    label: str,
) -> Iterator[tuple[Callable[[int, int], None], Callable[[object], None]]]:
    """A progress bar on stderr, removed when done; yields the ``on_start(count, bytes)`` and
    ``progress(result)`` callbacks the scanners take."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def on_start(count: int, total_bytes: int) -> None:
            del total_bytes
            bar.update(task, total=count)

        def progress(result: object) -> None:
            del result
            bar.advance(task)

        yield on_start, progress
