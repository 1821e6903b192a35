"""The terminal report: findings with the KB vulnerability they are, as a table on a wide
terminal and as blocks on a narrow one (80 columns), where a table would fold paths mid-word."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from mlstix.findings.model import Report, Severity, count

if TYPE_CHECKING:
    from mlstix.kb.graph import KnowledgeBase

__all__ = ["print_table"]

_COLORS = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


_WIDE = 110  # below this many columns, findings are listed as blocks instead of a table


def _blocks(report: Report, console: Console) -> None:
    """One block per finding: severity and rule, then the location on a line of its own (so a
    path is never folded inside a narrow column), then title and message, wrapped at words."""
    console.print(f"[bold]mlstix scan {report.scanner}: {count(len(report.findings), 'finding')}")
    for f in report.findings:
        console.print()
        console.print(f"[{_COLORS[f.severity]}]{f.severity.value.upper()}[/]  {escape(f.rule_id)}")
        for text, style in ((str(f.location), ""), (f.title, "bold"), (f.message, "")):
            line = Text(text, style=style, overflow="fold")
            console.print(Padding(line, (0, 0, 0, 2), expand=False))
    console.print()


def _table(report: Report, console: Console) -> None:
    table = Table(
        title=f"mlstix scan {report.scanner}: {count(len(report.findings), 'finding')}",
        show_lines=True,
    )
    table.add_column("severity", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("location", overflow="fold", ratio=1)
    table.add_column("finding", ratio=2)
    for f in report.findings:
        # The title already starts with the KB vulnerability's name.
        table.add_row(
            f"[{_COLORS[f.severity]}]{f.severity.value}[/]",
            escape(f.rule_id),
            escape(str(f.location)),
            f"[bold]{escape(f.title)}[/]\n{escape(f.message)}",
        )
    console.print(table)


def print_table(report: Report, kb: KnowledgeBase, console: Console) -> None:
    """The findings for a terminal: a table when it is wide, blocks when it is narrow."""
    del kb  # the findings carry the knowledge base's names already
    if report.findings and console.width >= _WIDE:
        _table(report, console)
    elif report.findings:
        _blocks(report, console)
    else:
        console.print(f"[green]no findings[/] in {count(len(report.scanned), 'scanned file')}")
    for err in report.errors:
        console.print(f"[red]error[/] {escape(err.path)}: {escape(err.message)}", highlight=False)
    counts = dict.fromkeys(Severity, 0)
    for f in report.findings:
        counts[f.severity] += 1
    summary = ", ".join(f"{n} {s.value}" for s, n in sorted(counts.items(), reverse=True) if n)
    console.print(
        f"scanned {count(len(report.scanned), 'file')}; {summary or 'no findings'}; "
        f"{count(len(report.errors), 'error')}"
    )
