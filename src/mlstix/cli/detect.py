"""``mlstix detect``: detection over logs.

``mlstix detect LOG...`` (the same as ``mlstix detect logs LOG...``) runs the knowledge base's
Sigma rules over cloud audit logs; ``mlstix detect export`` converts the rules for a SIEM. Other
detectors add their command to :data:`detect` (``detect.add_command(...)``) from their own module.

Exit codes (DESIGN.md): 0 no finding at or above ``--fail-on``, 1 findings at or above it, 2 the
run could not start (bad arguments, bad rules) or some input could not be read (the report is
still written and lists each bad file and line under ``errors``).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from mlstix.cli import _console
from mlstix.cli._params import AliasedOption, ExistingPath
from mlstix.cli._report import EXIT_CODES_HELP, emit, report_options, wrote
from mlstix.errors import UsageError

__all__ = ["detect"]


class _LogsByDefault(click.Group):
    """A group whose first argument, when it is not a sub-command, is a log path for ``logs``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["logs", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_LogsByDefault)
def detect() -> None:
    """Detect attacks in logs: Sigma rules over cloud audit logs ('detect LOG...', the same as
    'detect logs LOG...'), and the rules exported for a SIEM ('detect export')."""


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--{param.name} {value!r}: not an ISO 8601 time (e.g. 2026-11-30 or "
            "2026-11-30T12:00:00Z)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_RULES_HELP = (
    "Run the Sigma rules in DIR (*.yml, *.yaml) instead of the knowledge base's. Each needs the "
    "mlstix attribute (attack_pattern, vulnerability) that ties it to the knowledge base."
)


class _LogPath(ExistingPath):
    """A log path that must exist, or ``-`` for standard input."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        return Path("-") if value == "-" else super().convert(value, param, ctx)


@detect.command("logs", epilog=EXIT_CODES_HELP)
@click.argument("logs", nargs=-1, required=True, metavar="LOG...", type=_LogPath())
@click.option("--rules", "rules_dir", type=ExistingPath(file_okay=False), help=_RULES_HELP)
@click.option("--since", callback=_when, metavar="TIME",
              help="Only events at or after TIME (ISO 8601; UTC without an offset).")  # fmt: skip
@click.option("--until", callback=_when, metavar="TIME",
              help="Only events before TIME (ISO 8601; UTC without an offset).")  # fmt: skip
@click.option("--jobs", "-j", "--workers", "jobs", cls=AliasedOption, hidden_aliases=("--workers",),
              type=click.IntRange(0, 64), default=0, show_default="all cores",
              help="Files read in parallel (0: one per core).")  # fmt: skip
@click.option("--max-findings-per-rule", "max_per_rule", type=click.IntRange(0), default=100,
              show_default=True, metavar="N",
              help="Findings listed per rule and file; the matches past N are one more finding "
              "that counts them (evidence more_matches). 0: list every match.")  # fmt: skip
@report_options
def logs(
    logs: tuple[Path, ...],
    rules_dir: Path | None,
    since: datetime | None,
    until: datetime | None,
    jobs: int,
    max_per_rule: int,
    fmt: str | None,
    output: str,
    fail_on: str,
) -> None:
    """Run Sigma rules over cloud audit logs: CloudTrail (files as delivered to S3, gzipped, whole
    AWSLogs/ trees; CloudTrail Lake and EventBridge JSON lines), Azure Activity Log exports,
    Google Cloud audit LogEntry JSON (gcloud logging read --format=json, sink exports) and
    Kubernetes audit JSON lines. LOG '-' reads standard input, gzipped or not (a pipe is copied
    to a temporary file in TMPDIR as it arrives: a damaged log is read twice, a pipe only once).

    Each match is a finding with the rule, the event's time, principal, source IP and resource,
    and the event as evidence.

    Exit codes: 0 no finding at or above --fail-on; 1 findings at or above it; 2 the run could
    not start, or some file or line could not be read (the report lists it under errors).
    """
    from mlstix.detect.logs import detect_logs
    from mlstix.kb.load import load_kb

    if since is not None and until is not None and since >= until:
        raise UsageError("--since must be earlier than --until")
    report = detect_logs(
        load_kb(),
        logs,
        rules_dir=rules_dir,
        since=since,
        until=until,
        jobs=jobs,
        max_per_rule=max_per_rule,
    )
    if not report.scanned and not report.errors:
        raise UsageError(
            f"no log files in {', '.join(map(str, logs))} (folders are searched for *.json, "
            "*.jsonl, *.ndjson, *.log and *.gz)"
        )
    sys.exit(emit(report, fmt, output, fail_on))


def _targets() -> list[str]:
    return ["splunk", "esql", "lucene", "kusto", "sigma"]


@detect.command("export")
@click.option("--target", "-t", required=True,
              type=click.Choice(_targets(), case_sensitive=False),
              help="splunk (SPL and savedsearches.conf), esql or lucene (Elastic queries), "
              "kusto (KQL for Microsoft Sentinel), sigma (the rules).")  # fmt: skip
@click.option("--output", "-o", "out", required=True, type=click.Path(path_type=Path),
              metavar="DIR",
              help="Folder to write to (made if missing; its parent must exist).")  # fmt: skip
@click.option("--rules", "rules_dir", type=ExistingPath(file_okay=False), help=_RULES_HELP)
def export(target: str, out: Path, rules_dir: Path | None) -> None:
    """Convert the detection rules for a SIEM with pySigma's backends, one file per rule.

    Exit codes: 0 written; 2 a rule could not be converted or DIR could not be written.
    """
    from mlstix.detect.logs._rules import load_rules
    from mlstix.detect.logs.export import NOT_EXPORTED, export_rules
    from mlstix.kb.load import load_kb

    written = export_rules(load_rules(load_kb(), rules_dir), target.lower(), out)
    wrote(str(out), f" ({len(written)} files, {target.lower()})")
    left_out = out / NOT_EXPORTED
    if left_out in written:
        # the file: a header line, a blank line, then one line per rule left out
        count = len(left_out.read_text(encoding="utf-8").splitlines()) - 2
        _console.err_console.print(
            f"note: {count} rule(s) cannot be expressed on {target.lower()}'s tables and were "
            f"left out; {NOT_EXPORTED} names them and why",
            soft_wrap=True,
        )
