"""The terminal table: findings grouped by severity, with the KB vulnerability they are."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlstix.findings.model import Report, Severity
from mlstix.kb.graph import KnowledgeBase

__all__ = ["print_table"]

_COLORS = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def print_table(report: Report, kb: KnowledgeBase, console: Console) -> None:
    if report.findings:
        table = Table(
            title=f"mlstix scan {report.scanner}: {len(report.findings)} findings",
            show_lines=True,
        )
        table.add_column("severity", no_wrap=True)
        table.add_column("rule", no_wrap=True)
        table.add_column("location", overflow="fold", ratio=1)
        table.add_column("finding", overflow="fold", ratio=2)
        for f in report.findings:
            # The title already starts with the KB vulnerability's name.
            table.add_row(
                f"[{_COLORS[f.severity]}]{f.severity.value}[/]",
                escape(f.rule_id),
                escape(str(f.location)),
                f"[bold]{escape(f.title)}[/]\n{escape(f.message)}",
            )
        console.print(table)
    else:
        console.print(f"[green]no findings[/] in {len(report.scanned)} scanned files")
    for err in report.errors:
        console.print(f"[red]error[/] {escape(err.path)}: {escape(err.message)}", highlight=False)
    counts = dict.fromkeys(Severity, 0)
    for f in report.findings:
        counts[f.severity] += 1
    summary = ", ".join(f"{n} {s.value}" for s, n in sorted(counts.items(), reverse=True) if n)
    console.print(
        f"scanned {len(report.scanned)} files; {summary or 'no findings'}; "
        f"{len(report.errors)} errors"
    )
