"""Reading an mlstix JSON report back into findings (the inverse of ``formats/json_format``).

A report file is untrusted input: anything that is not the documented shape (DESIGN.md, "JSON
report") raises :class:`~mlstix.errors.UsageError` naming the file and the offending field.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, ValidationError

from mlstix.errors import UsageError
from mlstix.findings.model import Finding, Location, Severity

__all__ = ["read_report"]


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


def read_report(text: str | bytes, name: str) -> tuple[Finding, ...]:
    """The findings of an mlstix JSON scan report; ``name`` names it in error messages."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"{name} is not JSON: {exc}", hint="pass a `--format json` report"
        ) from None
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
