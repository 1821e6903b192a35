"""``mlstix benchmark``: the ML Cloud Security Benchmark's controls, assessments and exports.

``list`` and ``show`` read the controls from the knowledge base; ``assess`` decides them from the
JSON reports of ``scan models``, ``scan iac`` and ``assess`` plus a YAML file of manual
attestations, and prints a scorecard; ``export`` writes the benchmark as an OSCAL catalog or level
profile, CSV or an Excel workbook. OSCAL needs the ``benchmark`` extra (compliance-trestle).

Exit codes of ``assess``: 0 no control failed, 1 at least one control failed, 2 the assessment
could not run (a report or attestation file that cannot be read, wrong arguments).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from mlstix.cli._console import console, err_console
from mlstix.cli._report import output_option, wrote
from mlstix.errors import UsageError
from mlstix.kb.controls import Benchmark, load_benchmark
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.load import load_kb

__all__ = ["benchmark"]

_PLATFORMS = ("aws", "azure", "gcp", "kubernetes")
_ASSESS_FORMATS = ("table", "json", "html", "markdown", "oscal")
_EXPORT_FORMATS = ("oscal-catalog", "oscal-profile", "oscal-component", "csv", "xlsx")
_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "manual": "magenta",
    "not-assessed": "yellow",
    "not-applicable": "dim",
}
_ATTEST_HELP = (
    "YAML file of manual attestations: `attestations:` list of {control, result "
    "(pass|fail|not-applicable), by, date, evidence, [expires], [note]}."
)


def _loaded() -> tuple[KnowledgeBase, Benchmark]:
    kb = load_kb()
    return kb, load_benchmark(kb)


@click.group()
def benchmark() -> None:
    """The ML Cloud Security Benchmark: list, show, assess and export its controls."""


@benchmark.command("list")
@click.option("--level", type=click.IntRange(1, 2), help="Only controls up to this level.")
@click.option("--platform", type=click.Choice(_PLATFORMS), help="Only controls for this platform.")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True, help="table for people, json for tools.")  # fmt: skip
def list_(level: int | None, platform: str | None, fmt: str) -> None:
    """List the controls, grouped by course of action."""
    import json

    kb, bench = _loaded()
    selected = list(bench.select(level, platform))
    if fmt == "json":
        rows = [
            {
                "id": c.id,
                "title": c.title,
                "level": c.level,
                "platforms": [p.value for p in c.platforms],
                "course_of_action": bench.section_of(c).course_of_action,
                "automated": c.audit.automated,
                "rules": list(c.audit.rules),
                "rule_patterns": list(c.audit.rule_patterns),
            }
            for c in selected
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"{bench.info.title} {bench.info.version}: {len(selected)} controls")
    for col in ("id", "level", "platforms", "audit", "title"):
        table.add_column(col, no_wrap=col in {"id", "audit"})
    section = None
    for c in selected:
        current = bench.section_of(c)
        if current is not section:
            section = current
            name = kb.course_of_action(current.course_of_action).name
            table.add_row("", "", "", "", f"[bold]{current.number}. {escape(name)}[/]")
        audit = "automated" if c.audit.automated else "manual"
        platforms = ", ".join(p.value for p in c.platforms)
        table.add_row(c.id, str(c.level), platforms, audit, escape(c.title))
    console.print(table)


@benchmark.command()
@click.argument("control_id")
def show(control_id: str) -> None:
    """Show one control: statement, rationale, audit, remediation and framework mappings."""
    from rich.markdown import Markdown

    from mlstix.benchmark._text import control_markdown

    kb, bench = _loaded()
    try:
        control = bench.control(control_id)
    except KeyError:
        raise UsageError(
            f"no control {control_id!r}", hint="`mlstix benchmark list` shows the control ids"
        ) from None
    console.print(Markdown(control_markdown(bench, control, kb)))


@benchmark.command()
@click.argument("reports", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--level", type=click.IntRange(1, 2), help="Assess the controls up to this level.")
@click.option("--platform", type=click.Choice(_PLATFORMS), help="Assess for this platform only.")
@click.option("--attest", type=click.Path(exists=True, path_type=Path), help=_ATTEST_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_ASSESS_FORMATS),
    default=None,
    help="Scorecard format (default: table on a terminal, json otherwise).",
)
@output_option("Write the scorecard to FILE ('-' for stdout, the default).")
def assess(
    reports: tuple[Path, ...],
    level: int | None,
    platform: str | None,
    attest: Path | None,
    fmt: str | None,
    output: str,
) -> None:
    """Decide each control from JSON REPORTS of `mlstix scan ... --format json` and `mlstix
    assess`, plus manual attestations, and print a scorecard.

    A control passes only when every rule that decides it ran and found nothing, and on each of
    its platforms one of them judged a resource (the reports' rules_run); rules that had nothing
    to judge (rules_not_applicable) pass nothing. Exit codes: 0 no control failed; 1 a control
    failed; 2 the assessment could not run.
    """
    from mlstix.benchmark._attest import expired, load_attestations
    from mlstix.benchmark._catalog import rule_catalog
    from mlstix.benchmark._reports import load_reports
    from mlstix.benchmark.assess import assess as decide

    if not reports and attest is None:
        raise UsageError(
            "nothing to assess",
            hint="pass JSON reports (`mlstix scan iac DIR --format json -o iac.json`) "
            "and/or --attest FILE",
        )
    kb, bench = _loaded()
    inputs = load_reports(list(reports))
    notes: list[str] = []
    attestations = {}
    if attest is not None:
        today = datetime.now(UTC).date()
        for cid, att in load_attestations(attest, bench, today).items():
            if expired(att, today):
                notes.append(f"the attestation of {cid} by {att.by} expired on {att.expires}")
            else:
                attestations[cid] = att
    result = decide(
        bench,
        inputs,
        rule_catalog(),
        attestations=attestations,
        level=level,
        platform=platform,
        notes=notes,
    )
    if fmt is None:
        fmt = "table" if output == "-" and sys.stdout.isatty() else "json"
    if fmt == "table" and output == "-":
        from mlstix.benchmark._text import print_scorecard

        print_scorecard(result, kb, console, _STYLE)
    else:
        from mlstix._io import write_output
        from mlstix.benchmark._text import render_scorecard

        write_output(output, render_scorecard(fmt, result, kb, datetime.now(UTC)))
        wrote(output, f" ({fmt})")
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    sys.exit(1 if result.failed else 0)


@benchmark.command()
@click.option("--format", "fmt", type=click.Choice(_EXPORT_FORMATS), required=True,
              help="oscal-catalog, oscal-profile or oscal-component (OSCAL JSON; the "
                   "component definition of mlstix's rules), csv or xlsx.")  # fmt: skip
@click.option(
    "--level",
    type=click.IntRange(1, 2),
    default=1,
    show_default=True,
    help="The profile's level (oscal-profile only).",
)
@output_option("File to write ('-' for stdout).", default=None, required=True)
def export(fmt: str, level: int, output: str) -> None:
    """Export the benchmark: an OSCAL catalog, an OSCAL level profile, the OSCAL component
    definition of mlstix's rules, CSV or xlsx."""
    from mlstix._io import write_output
    from mlstix.benchmark._text import export_benchmark

    if fmt == "xlsx" and output == "-" and sys.stdout.isatty():
        raise UsageError("refusing to write a binary xlsx file to a terminal", hint="use -o FILE")
    ctx = click.get_current_context()
    if fmt.lower() != "oscal-profile" and ctx.get_parameter_source("level") not in (
        click.core.ParameterSource.DEFAULT,
        None,
    ):  # it chose nothing: every format but the profile holds every control
        raise UsageError(
            f"--level applies to --format oscal-profile only; {fmt} holds every control",
            hint="drop --level, or use --format oscal-profile",
        )
    kb, bench = _loaded()
    write_output(output, export_benchmark(fmt, bench, kb, level))
    wrote(output, f" ({fmt})")
