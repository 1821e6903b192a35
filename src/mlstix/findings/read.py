"""Reading an mlstix JSON report back into findings (the inverse of ``formats/json_format``).

A report file is untrusted input: anything that is not the documented shape (DESIGN.md, "JSON
report") raises :class:`~mlstix.errors.UsageError` naming the file and the offending field.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from mlstix.errors import UsageError
from mlstix.findings._abrupt import abrupt_ctrl_c
from mlstix.findings.model import Finding, Location, Severity

__all__ = ["load_report_json", "read_report", "report_findings"]


class _Location(BaseModel):
    model_config = ConfigDict(extra="ignore")
    path: str
    member: str | None = None
    line: int | None = None
    resource: str | None = None


class _Finding(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rule_id: str
    severity: Severity
    title: str = ""
    message: str = ""
    location: _Location
    vulnerability: str
    courses_of_action: tuple[str, ...] = ()


class _Report(BaseModel):
    model_config = ConfigDict(extra="ignore")
    findings: list[_Finding]


def load_report_json(text: str | bytes, name: str) -> Any:
    """The JSON value of a report file (a large one parses in C, Ctrl-C still ends it)."""
    try:
        with abrupt_ctrl_c():
            return json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"{name} is not JSON: {exc}", hint="pass a `--format json` report"
        ) from None
    except RecursionError:  # json's decoder recurses once per level
        raise UsageError(
            f"{name} is not an mlstix JSON report: it is nested too deeply",
            hint="pass a `--format json` report",
        ) from None


def read_report(text: str | bytes, name: str) -> tuple[Finding, ...]:
    """The findings of an mlstix JSON scan report; ``name`` names it in error messages."""
    return report_findings(load_report_json(text, name), name)


def report_findings(raw: Any, name: str) -> tuple[Finding, ...]:
    """The findings of a report already read by :func:`load_report_json`."""
    try:
        report = _Report.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UsageError(
            f"{name} is not an mlstix JSON report: field {where}: {first['msg']}",
            hint="pass a report written by `mlstix scan ... --format json`",
        ) from None
    return tuple(
        Finding(
            rule_id=f.rule_id,
            severity=f.severity,
            title=f.title,
            message=f.message,
            location=Location(
                f.location.path, f.location.member, f.location.line, f.location.resource
            ),
            vulnerability=f.vulnerability,
            courses_of_action=f.courses_of_action,
        )
        for f in report.findings
    )
