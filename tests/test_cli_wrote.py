"""The ``wrote PATH`` line every command prints after writing a file: written as it is when
every character is printable (no rich import for a JSON report), through rich otherwise, and
the same text either way; emoji codes in a path stay as they are. The shared consoles are
made on first use."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.markup import escape

from mlstix.cli import _console
from mlstix.cli._report import wrote


def _rich(text: str) -> str:
    buffer = io.StringIO()
    Console(file=buffer, highlight=False, soft_wrap=True, emoji=False).print(
        f"wrote {escape(text)}", highlight=False
    )
    return buffer.getvalue()


@pytest.mark.parametrize(
    "path",
    [
        "report.json",
        "out/a b/report.json",
        "a:smile:b.json",  # an emoji code: kept as written
        "[red]x[/red].json",  # markup: kept as written
        "\\[bold].json",
        "rapport-été-📄.json",
        "a\tb.json",  # not printable: through rich (the tab expanded)
        "a\rb.json",
        "a\x1b[31mb.json",
        "a\udcffb.json",  # a name that is not UTF-8: shown as \xff
    ],
)
def test_the_wrote_line_is_what_rich_prints(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    real = _console.err_console
    buffer = io.StringIO()
    try:
        _console.err_console = Console(file=buffer, highlight=False, soft_wrap=True)
        wrote(path, " (json)")
    finally:
        _console.err_console = real
    printed = capsys.readouterr().err + buffer.getvalue()
    assert printed == _rich(f"{_console.utf8(path)} (json)")
    assert ":smile:" not in path or ":smile:" in printed


def test_nothing_is_said_for_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    wrote("-", " (json)")
    assert capsys.readouterr().err == ""


def test_the_consoles_are_made_on_first_use() -> None:
    assert isinstance(_console.console, Console)
    assert _console.err_console.stderr
    from mlstix.cli._console import err_console

    assert err_console is _console.err_console
    with pytest.raises(AttributeError):
        _console.__getattr__("nothing")
