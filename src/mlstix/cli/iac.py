"""``mlstix scan iac`` and ``mlstix rules``: the cloud-configuration scanner and its rule catalog.

``scan iac`` parses Terraform (folders and plan JSON), CloudFormation, ARM and Kubernetes files
into normalized resources, runs the rules of :mod:`mlstix.scan.rules.iac`, and reports through
the shared ``report_options``/``emit`` (formats and exit codes of DESIGN.md). ``rules list`` and
``rules show`` print the catalog with the knowledge-base vulnerability and courses of action.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlstix.cli import _console
from mlstix.cli._params import AliasedOption, missing_path
from mlstix.cli._report import emit, report_options
from mlstix.errors import KbDataError, UsageError

if TYPE_CHECKING:
    from mlstix.scan.iac import Options

__all__ = ["iac", "rules"]

_CLOUDS = ("aws", "azure", "gcp", "kubernetes")


def _select(cloud: tuple[str, ...], only: tuple[str, ...], skip: tuple[str, ...]) -> list:  # type: ignore[type-arg]
    from mlstix.scan.rules.iac import default_registry

    registry = default_registry()
    known = set(registry.rules)
    for rule_id in (*only, *skip):
        if rule_id.upper() not in known:
            raise UsageError(
                f"unknown rule id {rule_id!r}", hint="`mlstix rules list` shows the rule ids"
            )
    only_set = {r.upper() for r in only}
    skip_set = {r.upper() for r in skip}
    clouds = {c.lower() for c in cloud}
    selected = [
        r
        for r in registry
        if (not clouds or r.cloud in clouds)
        and (not only_set or r.id in only_set)
        and r.id not in skip_set
    ]
    if not selected:  # a scan that runs no rule can only ever say "no findings"
        raise UsageError(
            "--cloud, --rule and --skip-rule together leave no rule to run",
            hint="`mlstix rules list --cloud CLOUD` shows the rules of each cloud",
        )
    return selected


@click.command("iac")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--cloud",
    multiple=True,
    type=click.Choice(_CLOUDS, case_sensitive=False),
    help="Only rules for this cloud (repeatable).",
)
@click.option("--rule", "only", multiple=True, metavar="ID", help="Only this rule (repeatable).")
@click.option("--skip-rule", "skip", multiple=True, metavar="ID", help="Skip this rule.")
@click.option(
    "--exclude",
    "--ignore-path",
    "exclude",
    cls=AliasedOption,
    hidden_aliases=("--ignore-path",),
    multiple=True,
    metavar="GLOB",
    help="Leave out files or folders matching GLOB (relative path or name; repeatable).",
)
@click.option(
    "--jobs",
    "-j",
    "--workers",
    "jobs",
    cls=AliasedOption,
    hidden_aliases=("--workers",),
    type=click.IntRange(0, 64),
    default=0,
    show_default="all cores",
    help="Parse files in this many processes (0: one per core; small scans stay in one).",
)
@click.option(
    "--var",
    "tf_vars",
    multiple=True,
    metavar="NAME=VALUE",
    help="Terraform: set a root-module variable, as terraform plan -var does (repeatable).",
)
@click.option(
    "--var-file",
    "var_files",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Terraform: read variable values from a .tfvars or .tfvars.json file (repeatable).",
)
@click.option(
    "--parameter",
    "parameters",
    multiple=True,
    metavar="KEY=VALUE",
    help="CloudFormation: a parameter value (default: each parameter's Default; repeatable).",
)
@report_options
def iac(
    paths: tuple[Path, ...],
    cloud: tuple[str, ...],
    only: tuple[str, ...],
    skip: tuple[str, ...],
    exclude: tuple[str, ...],
    jobs: int,
    tf_vars: tuple[str, ...],
    var_files: tuple[Path, ...],
    parameters: tuple[str, ...],
    fmt: str | None,
    output: str,
    fail_on: str,
) -> None:
    """Scan Terraform, CloudFormation, ARM and Kubernetes files for ML misconfigurations.

    Exit codes: 0 no finding at or above --fail-on; 1 findings at or above it; 2 the scan
    could not run, or some file could not be parsed (the report lists it under errors).
    """
    from mlstix.findings.model import Report
    from mlstix.kb.load import load_kb
    from mlstix.scan.iac import collect
    from mlstix.scan.rules.iac import default_registry, evaluate_isolated

    selected = _select(cloud, only, skip)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise missing_path(", ".join(map(str, missing)))
    options = _options(tf_vars, var_files, parameters)
    found = collect(list(paths), jobs=jobs or os.cpu_count() or 1, exclude=exclude, options=options)
    if not found.scanned and not found.errors:
        raise UsageError(
            f"found no Terraform, CloudFormation, ARM or Kubernetes files in {_names(paths)}",
            hint="pass the folder that holds the .tf / template / manifest files",
        )
    try:
        kb = load_kb()
    except KbDataError:
        kb = None  # titles fall back to the rule's; emit() reports the KB problem itself
    judged = evaluate_isolated(default_registry(), selected, found.resources, kb)
    ran = judged.ran(selected) if found.scanned else []
    idle = judged.not_applicable(selected) if found.scanned else []
    errors = [*found.errors, *judged.errors]
    report = Report.build(
        "iac", found.scanned, judged.findings, errors, rules_run=ran, rules_not_applicable=idle
    )
    hint = (
        "Leave them out with --exclude if they are not IaC; for remote Terraform modules, run "
        "`terraform init` first."
    )
    sys.exit(emit(report, fmt, output, fail_on, skip_hint=hint))


def _pairs(values: tuple[str, ...], option: str) -> tuple[tuple[str, str], ...]:
    out = []
    for value in values:
        name, eq, text = value.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"{option} {value!r}: expected NAME=VALUE")
        out.append((name.strip(), text))
    return tuple(out)


def _options(
    tf_vars: tuple[str, ...], var_files: tuple[Path, ...], parameters: tuple[str, ...]
) -> Options:
    from mlstix.scan.iac import Options
    from mlstix.scan.iac.collect import read_var_file

    files = []
    for path in var_files:
        try:
            files.append((str(path), read_var_file(path)))
        except ValueError as exc:
            raise UsageError(f"--var-file {path}: {exc}") from None
    return Options(
        var_files=tuple(files),
        variables=_pairs(tf_vars, "--var"),
        parameters=_pairs(parameters, "--parameter"),
        environment=tuple(
            (name.removeprefix("TF_VAR_"), value)
            for name, value in sorted(os.environ.items())
            if name.startswith("TF_VAR_")
        ),
    )


def _names(paths: tuple[Path, ...]) -> str:
    return ", ".join(str(p) for p in paths)


@click.group("rules")
def rules() -> None:
    """The IaC scanner's rules: list them, or show one with its remediation."""


@rules.command("list")
@click.option(
    "--cloud", type=click.Choice(_CLOUDS, case_sensitive=False), help="Only rules for this cloud."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"], case_sensitive=False),
    default="table",
    show_default=True,
    help="table for people, json for machines.",
)
def list_rules(cloud: str | None, fmt: str) -> None:
    """List every rule: id, severity, cloud, languages, title."""
    import json

    selected = _select((cloud,) if cloud else (), (), ())
    if fmt == "json":
        rows = [
            {
                "id": r.id,
                "severity": r.severity.value,
                "cloud": r.cloud,
                "languages": list(r.dialects),
                "title": r.title,
                "vulnerability": r.vulnerability,
                "courses_of_action": list(r.courses_of_action),
            }
            for r in selected
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    console = _console.console
    wide = console.width >= 120  # narrower: no languages column (`rules show` lists them)
    table = Table(title=f"{len(selected)} rule{'s' * (len(selected) != 1)}")
    table.add_column("id", no_wrap=True)
    for col in (
        ("severity", "cloud", "languages", "title") if wide else ("severity", "cloud", "title")
    ):
        table.add_column(col)  # wrapped at words, never inside one
    for r in selected:
        languages = (", ".join(r.dialects),) if wide else ()
        table.add_row(r.id, r.severity.value, r.cloud, *languages, escape(r.title))
    console.print(table)


@rules.command("show")
@click.argument("rule_id", metavar="RULE_ID")
def show_rule(rule_id: str) -> None:
    """Show one rule: metadata, KB vulnerability, courses of action, fix per language."""
    from rich.markup import escape

    from mlstix.kb.load import load_kb
    from mlstix.scan.rules.iac import default_registry

    rule = default_registry().get(rule_id)
    kb = load_kb()
    vuln = kb.vulnerability(rule.vulnerability)
    console = _console.console
    console.print(f"[bold]{rule.id}[/]  {escape(vuln.name)}: {escape(rule.title)}")
    console.print(
        f"severity: {rule.severity.value}   cloud: {rule.cloud}   "
        f"languages: {', '.join(rule.dialects)}"
    )
    console.print(f"\n[bold]vulnerability[/] {vuln.key}: {escape(' '.join(vuln.summary.split()))}")
    console.print("\n[bold]courses of action[/]")
    for key in rule.courses_of_action:
        coa = kb.course_of_action(key)
        console.print(f"  {coa.key}: {escape(' '.join(coa.summary.split()))}")
    for dialect in rule.dialects:
        console.print(f"\n[bold]fix ({dialect})[/]")
        console.print(escape(rule.fix[dialect].rstrip()), highlight=False)
