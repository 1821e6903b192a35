"""The one result model shared by every scanner: :class:`Finding`, :class:`Report`.

A finding speaks in knowledge-base terms: it names the KB vulnerability it is an instance of and
the courses of action that fix it, by key. Its ``title`` defaults to the vulnerability's name and
its remediation comes from the courses of action (see :func:`remediation`), never from the rule.

The JSON shape (``Report.to_json``) is a contract for machines, documented in DESIGN.md.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlstix import __version__

if TYPE_CHECKING:  # the knowledge base (pydantic) is loaded only by what speaks its prose
    from mlstix.kb.graph import KnowledgeBase

__all__ = [
    "Finding",
    "Location",
    "Report",
    "ScanError",
    "ScannedFile",
    "Severity",
    "count",
    "remediation",
]


class Severity(enum.Enum):
    """Finding severity, ordered: ``Severity.CRITICAL > Severity.HIGH``."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    @property
    def security_severity(self) -> str:
        """The CVSS-like score GitHub code scanning reads from SARIF ``security-severity``."""
        return {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}[
            self.value
        ]


_RANK = {s: i for i, s in enumerate(Severity)}


@dataclass(frozen=True)
class Location:
    """Where a finding is: a file, optionally a member inside an archive, a line, a resource."""

    path: str
    member: str | None = None
    line: int | None = None
    resource: str | None = None

    def __str__(self) -> str:
        out = self.path
        if self.member:
            out += f"!{self.member}"
        if self.line is not None:
            out += f":{self.line}"
        if self.resource:
            out += f" ({self.resource})"
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "member": self.member,
            "line": self.line,
            "resource": self.resource,
        }


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    title: str
    message: str
    location: Location
    vulnerability: str  # KB key
    courses_of_action: tuple[str, ...]  # KB keys
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple[Any, ...]:
        loc = self.location
        return (-self.severity.rank, loc.path, loc.member or "", loc.line or 0, self.rule_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "title": self.title,
            "message": self.message,
            "location": self.location.to_json(),
            "vulnerability": self.vulnerability,
            "courses_of_action": list(self.courses_of_action),
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True)
class ScannedFile:
    path: str
    kind: str  # the detected format, e.g. "pytorch-zip", "terraform"
    sha256: str | None = None
    bytes_fetched: int | None = None  # remote scans: bytes read from the store in this run
    version: str | None = None  # remote scans: the object version analysed (etag:"...", ...)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind, "sha256": self.sha256}
        if self.bytes_fetched is not None:
            out["bytes_fetched"] = self.bytes_fetched
        if self.version is not None:
            out["version"] = self.version
        return out


@dataclass(frozen=True)
class ScanError:
    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass(frozen=True)
class Report:
    """Everything one scan produced. ``scanner`` names it (``models``, ``iac``)."""

    scanner: str
    scanned: tuple[ScannedFile, ...] = ()
    findings: tuple[Finding, ...] = ()
    errors: tuple[ScanError, ...] = ()
    # ids of the rules that judged at least one input: a rule listed here with no finding passed
    rules_run: tuple[str, ...] = ()
    # rules evaluated over inputs holding nothing of the kinds they judge: they showed nothing
    rules_not_applicable: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        scanner: str,
        scanned: Iterable[ScannedFile],
        findings: Iterable[Finding],
        errors: Iterable[ScanError] = (),
        rules_run: Iterable[str] = (),
        rules_not_applicable: Iterable[str] = (),
    ) -> Report:
        """A report with its parts in a stable order, so outputs are deterministic."""
        return cls(
            scanner=scanner,
            scanned=tuple(sorted(scanned, key=lambda s: s.path)),
            findings=tuple(sorted(findings, key=Finding.sort_key)),
            errors=tuple(sorted(errors, key=_error_order)),
            rules_run=tuple(sorted(set(rules_run))),
            rules_not_applicable=tuple(sorted(set(rules_not_applicable) - set(rules_run))),
        )

    def at_or_above(self, threshold: Severity) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity >= threshold)

    def exit_code(self, fail_on: Severity) -> int:
        """0 when nothing reaches ``fail_on``; 1 otherwise (DESIGN.md, exit codes)."""
        return 1 if self.at_or_above(fail_on) else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": {"name": "mlstix", "version": __version__},
            "scanned": [s.to_json() for s in self.scanned],
            "findings": [f.to_json() for f in self.findings],
            "errors": [e.to_json() for e in self.errors],
            "rules_run": list(self.rules_run),
            "rules_not_applicable": list(self.rules_not_applicable),
        }


_DIGITS = re.compile(r"(\d+)")


def _error_order(error: ScanError) -> tuple[Any, ...]:
    """Errors by file, then in natural order of their messages: numbers in a message compare
    as numbers, so ``line 2: …`` comes before ``line 10: …`` (then the text itself, so that
    ``line 02`` and ``line 2`` still have one order)."""
    parts: list[Any] = _DIGITS.split(error.message)
    # a run of digits as (its length without leading zeros, the digits): numeric order with no
    # int() of a hostile thousand-digit run
    parts[1::2] = [(len(run.lstrip("0")), run.lstrip("0")) for run in parts[1::2]]
    return (error.path, parts, error.message)


def remediation(kb: KnowledgeBase, finding: Finding) -> str:
    """The remediation text of a finding: its courses of action's summaries, from the KB."""
    parts = []
    for key in finding.courses_of_action:
        coa = kb.course_of_action(key)
        parts.append(f"{coa.name}: {' '.join(coa.summary.split())}")
    return "\n".join(parts)


def count(number: int, noun: str) -> str:
    """``1 file``, ``2 files``: a number with its noun, plural when it is not one."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
