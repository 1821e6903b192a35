"""The JSON reports ``benchmark assess`` reads: findings, and which rules ran.

A report is untrusted input. Its findings are read by :func:`mlstix.findings.read.read_report`
(which names the file and field of any problem); this module adds what the benchmark needs besides:
``rules_run`` (the rules that judged at least one resource), ``rules_not_applicable`` (the rules
that ran over inputs holding nothing they judge) and ``scanned``.

Older reports still read. One written before ``rules_run`` existed counts its findings, but no
rule is taken to have run from it. One written before ``rules_not_applicable`` existed lists in
``rules_run`` every rule it evaluated, whether or not it found anything to judge, so its
``rules_run`` cannot show a rule judged anything: it too can fail controls and never pass one.
Nor does a report with ``errors`` (inputs it could not read in full): what it could not read may
hold what its rules would have failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from mlstix.errors import UsageError
from mlstix.findings.model import Finding
from mlstix.findings.read import load_report_json, report_findings

__all__ = ["ReportInput", "load_reports"]

_MAX_BYTES = 256 * 1024 * 1024


class _Error(BaseModel):
    model_config = ConfigDict(extra="ignore")
    path: str = ""
    message: str = ""


class _Extra(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rules_run: list[str] | None = None
    rules_not_applicable: list[str] | None = None
    scanned: list[dict[str, object]] = []
    errors: list[_Error] = []


@dataclass(frozen=True)
class ReportInput:
    name: str
    findings: tuple[Finding, ...]
    rules_run: frozenset[str] | None  # None: an older report that does not say
    scanned: int
    errors: tuple[str, ...] = ()  # "path: message" of each input it could not read in full
    # rules that ran over nothing they judge; None: a report written before mlstix said so,
    # whose rules_run then names every rule it evaluated (judged something or not)
    rules_not_applicable: frozenset[str] | None = None

    @property
    def judged(self) -> frozenset[str]:
        """The rules this report shows judged at least one resource."""
        if self.rules_not_applicable is None:
            return frozenset()
        return self.rules_run or frozenset()

    @property
    def legacy(self) -> bool:
        """Written before mlstix recorded which rules judged something."""
        return self.rules_run is not None and self.rules_not_applicable is None


def load_reports(paths: list[Path]) -> list[ReportInput]:
    """The reports, each read once even when named twice on the command line."""
    unique = dict.fromkeys(paths)
    return [_load(path) for path in unique]


def _load(path: Path) -> ReportInput:
    name = str(path)
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise UsageError(f"{name} is larger than {_MAX_BYTES // (1024 * 1024)} MiB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such report: {name}") from None
    except IsADirectoryError:
        raise UsageError(
            f"{name} is a folder", hint="pass the JSON report files themselves"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    raw = load_report_json(data, name)  # parsed once: a large report takes seconds
    findings = report_findings(raw, name)
    try:
        extra = _Extra.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(
            f"{name} is not an mlstix JSON report: field {where}: {first['msg']}"
        ) from None
    rules = frozenset(extra.rules_run) if extra.rules_run is not None else None
    idle = extra.rules_not_applicable
    errors = tuple(f"{e.path}: {e.message}" for e in extra.errors)
    return ReportInput(
        name,
        findings,
        rules,
        len(extra.scanned),
        errors,
        frozenset(idle) - (rules or frozenset())
        if idle is not None and rules is not None
        else None,
    )
