"""Shared rich consoles: results to stdout, diagnostics to stderr.

When stdout is not a terminal (piped, redirected), plain lines are not wrapped (``soft_wrap``):
a URL or a path stays whole for ``grep`` and for the next program.

The consoles are made when first used (``rich.console`` costs about 0.02-0.03 CPU-s to import):
a command that only writes a JSON report to a file and says ``wrote PATH`` (see
:func:`mlstix.cli._report.wrote`) does not import rich at all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "err_console", "progress_bar", "utf8"]

console: Console  # made on first use (module __getattr__)
err_console: Console


def _make(name: str) -> Console:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            """The reader left (``mlstix kb list | head``). rich would exit 1, which a scan's
            caller reads as "findings": hand it to ``mlstix.cli.main``, which exits 141
            quietly."""
            self.quiet = True
            raise BrokenPipeError

    if name == "console":
        return _Console(highlight=False, soft_wrap=not sys.stdout.isatty())
    return _Console(stderr=True, highlight=False, soft_wrap=True)


def __getattr__(name: str) -> Console:
    if name not in ("console", "err_console"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    made = _make(name)
    globals()[name] = made
    return made


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

    err_console = sys.modules[__name__].err_console  # (made on first use; a test may set it)
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
