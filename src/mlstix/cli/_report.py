"""What every ``scan`` command shares: the output options and the one way a report leaves.

``report_options`` adds ``--format``, ``--output`` and ``--fail-on``; :func:`emit` renders the
report (a rich table on a terminal, JSON when piped, unless ``--format`` says otherwise), writes
it atomically, and returns the exit code of DESIGN.md: 0 nothing at or above ``--fail-on``, 1
findings at or above it. Errors that stop a scan from running exit 2 through ``MlstixError``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from mlstix._io import write_output
from mlstix.cli._console import console
from mlstix.findings.formats import FORMAT_NAMES, render
from mlstix.findings.formats.table import print_table
from mlstix.findings.model import Report, Severity
from mlstix.kb.load import load_kb

__all__ = ["emit", "report_options"]

F = TypeVar("F", bound=Callable[..., Any])

_FAIL_ON = [s.value for s in Severity if s is not Severity.INFO]


def report_options(func: F) -> F:
    """Decorate a scan command with --format, --output and --fail-on."""
    func = click.option(
        "--fail-on",
        type=click.Choice(_FAIL_ON),
        default="high",
        show_default=True,
        help="Exit 1 when a finding is at or above this severity.",
    )(func)
    func = click.option(
        "--output",
        "-o",
        default="-",
        metavar="FILE",
        help="Write the report to FILE ('-' for stdout, the default).",
    )(func)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMAT_NAMES),
        default=None,
        help="Report format (default: table on a terminal, json otherwise).",
    )(func)


def emit(report: Report, fmt: str | None, output: str, fail_on: str) -> int:
    """Render and write ``report``; return the exit code."""
    kb = load_kb()
    if fmt is None:
        fmt = "table" if output == "-" and sys.stdout.isatty() else "json"
    if fmt == "table":
        if output == "-":
            print_table(report, kb, console)
        else:
            from rich.console import Console

            with open(output, "w", encoding="utf-8") as fh:  # noqa: PTH123
                print_table(report, kb, Console(file=fh, width=140, color_system=None))
    else:
        write_output(output, render(fmt, report, kb))
    return report.exit_code(Severity(fail_on))
