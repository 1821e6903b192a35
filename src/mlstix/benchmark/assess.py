"""Decide each benchmark control from scan and assessment reports and manual attestations.

A control is decided in this order (the first that applies wins):

1. **not-applicable** when ``--platform`` names a platform the control does not apply to;
2. **fail** when any report has a finding of one of its rules (findings outrank attestations:
   a reviewer cannot attest away a failing rule);
3. **not-applicable** when a reviewer attested it so;
4. **pass** when every one of its rules (those judging the selected platform) ran in at least one
   report, none found anything, and every platform in scope that the control applies to is
   judged by one of them (unless the control says its rules can fail it but not pass it:
   ``rules_can_pass: false``, or only on the platforms it lists in ``rules_pass_on``);
5. the attested result, when a reviewer attested pass or fail;
6. **not-assessed** when it has rules but some did not run in any report: never "pass" for a
   control whose rules did not run;
7. **manual** otherwise: no rule decides it (or, for some platform in scope, none of its rules
   judges that platform) and nobody attested it.

"Ran" comes from the reports' ``rules_run``; a report without it contributes findings only, and
so does a report with ``errors`` (inputs it could not read in full): a control whose rules ran
only that way is not-assessed, not pass.
Controls above ``--level`` are left out of the assessment (they are not in that profile).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from mlstix.benchmark._attest import Attestation, AttestedResult
from mlstix.benchmark._catalog import CatalogRule
from mlstix.benchmark._reports import ReportInput
from mlstix.findings.model import Finding
from mlstix.kb.controls import Benchmark, Control

__all__ = ["Assessment", "ControlResult", "Failure", "Status", "assess"]


class Status(StrEnum):
    PASS = "pass"  # noqa: S105
    FAIL = "fail"
    MANUAL = "manual"
    NOT_APPLICABLE = "not-applicable"
    NOT_ASSESSED = "not-assessed"


@dataclass(frozen=True)
class Failure:
    report: str
    finding: Finding


@dataclass(frozen=True)
class ControlResult:
    control: Control
    status: Status
    reason: str
    rules: tuple[str, ...]  # the rules that decide it for the selected platform
    rules_not_run: tuple[str, ...] = ()
    failures: tuple[Failure, ...] = ()
    attestation: Attestation | None = None

    @property
    def attested(self) -> bool:
        return self.attestation is not None and self.status.value == self.attestation.result.value


@dataclass(frozen=True)
class Assessment:
    benchmark: Benchmark
    results: tuple[ControlResult, ...]
    level: int | None
    platform: str | None
    reports: tuple[str, ...]
    notes: tuple[str, ...]  # what the user should know: old reports, expired attestations...

    def counts(self, results: Iterable[ControlResult] | None = None) -> dict[Status, int]:
        out = dict.fromkeys(Status, 0)
        for r in self.results if results is None else results:
            out[r.status] += 1
        return out

    @property
    def failed(self) -> bool:
        return any(r.status is Status.FAIL for r in self.results)


def _rule_hint(rules: Iterable[str], catalog: Mapping[str, CatalogRule]) -> str:
    commands = sorted({catalog[r].command for r in rules if r in catalog})
    if not commands:
        return ""
    hint = f"; run {' and '.join(f'`{c} --format json`' for c in commands)} and pass its report"
    if "models/signature-invalid" in rules:
        hint += " (scan models verifies signatures only with --public-key or --identity)"
    return hint


def _relevant_rules(
    benchmark: Benchmark, control: Control, catalog: Mapping[str, CatalogRule], platform: str | None
) -> tuple[str, ...]:
    rules = benchmark.rules_of(control, set(catalog))
    if platform is None:
        return rules
    return tuple(r for r in rules if r not in catalog or catalog[r].platform in (platform, "any"))


def _unjudged(
    control: Control,
    rules: tuple[str, ...],
    catalog: Mapping[str, CatalogRule],
    platform: str | None,
) -> list[str]:
    """The platforms in scope that the control applies to but none of its rules judges."""
    judged = {catalog[r].platform for r in rules if r in catalog}
    if control.audit.rules_pass_on is not None:  # where clean rules show it met
        judged &= {p.value for p in control.audit.rules_pass_on}
    if "any" in judged or not rules:
        return []
    wanted = [p.value for p in control.platforms if p.value != "any"]
    if platform is not None:
        wanted = [p for p in wanted if p == platform]
    return [p for p in wanted if p not in judged]


def _decide(
    benchmark: Benchmark,
    control: Control,
    by_rule: Mapping[str, list[Failure]],
    ran: frozenset[str],
    partial: Mapping[str, str],
    attestation: Attestation | None,
    catalog: Mapping[str, CatalogRule],
    platform: str | None,
) -> ControlResult:
    if not control.applies_to(platform):
        where = ", ".join(p.value for p in control.platforms)
        return ControlResult(control, Status.NOT_APPLICABLE, f"applies to {where} only", ())
    rules = _relevant_rules(benchmark, control, catalog, platform)
    failures = tuple(f for rule in rules for f in by_rule.get(rule, ()))
    if failures:
        ids = sorted({f.finding.rule_id for f in failures})
        reason = f"{len(failures)} finding{'s' * (len(failures) != 1)} of {', '.join(ids)}"
        if attestation is not None:
            reason += f" (overrides the attestation by {attestation.by})"
        return ControlResult(control, Status.FAIL, reason, rules, (), failures, attestation)
    if attestation is not None and attestation.result is AttestedResult.NOT_APPLICABLE:
        reason = f"attested not applicable by {attestation.by} on {attestation.date}"
        return ControlResult(control, Status.NOT_APPLICABLE, reason, rules, (), (), attestation)
    not_run = tuple(r for r in rules if r not in ran or r in partial)
    unjudged = _unjudged(control, rules, catalog, platform)
    if rules and not not_run and not unjudged and control.audit.rules_can_pass:
        reason = f"{len(rules)} rule{'s' * (len(rules) != 1)} ran with no finding"
        return ControlResult(control, Status.PASS, reason, rules, (), (), attestation)
    if attestation is not None:
        status = Status(attestation.result.value)
        reason = f"attested {status.value} by {attestation.by} on {attestation.date}"
        return ControlResult(control, status, reason, rules, not_run, (), attestation)
    incomplete = sorted({partial[r] for r in not_run if r in partial})
    if incomplete:
        reason = (
            f"{', '.join(incomplete)} could not read every input, so its rules "
            f"{', '.join(r for r in not_run if r in partial)} cannot pass it: fix or exclude "
            "what it could not read and scan again"
        )
        return ControlResult(control, Status.NOT_ASSESSED, reason, rules, not_run)
    if not_run:
        reason = f"rules not run: {', '.join(not_run)}{_rule_hint(not_run, catalog)}"
        return ControlResult(control, Status.NOT_ASSESSED, reason, rules, not_run)
    if rules and not control.audit.rules_can_pass:
        reason = (
            "its rules ran with no finding, but they cannot show it is met: follow the manual "
            "audit and attest the result"
        )
        return ControlResult(control, Status.MANUAL, reason, rules)
    if rules:
        reason = (
            f"its rules ran with no finding, but they cannot show it is met on "
            f"{', '.join(unjudged)}: follow the manual audit there and attest the result"
        )
        return ControlResult(control, Status.MANUAL, reason, rules)
    reason = "no rule decides it: follow the manual audit and attest the result"
    return ControlResult(control, Status.MANUAL, reason, rules)


def assess(
    benchmark: Benchmark,
    reports: list[ReportInput],
    catalog: Mapping[str, CatalogRule],
    *,
    attestations: Mapping[str, Attestation] | None = None,
    level: int | None = None,
    platform: str | None = None,
    notes: Iterable[str] = (),
) -> Assessment:
    attestations = attestations or {}
    ran = frozenset(r for report in reports for r in (report.rules_run or ()))
    # rules that ran over inputs a report could not read in full: they fail, never pass
    partial = {
        r: report.name for report in reports if report.errors for r in report.rules_run or ()
    }
    extra = list(notes)
    for report in reports:
        if report.errors:
            more = f" and {len(report.errors) - 1} more" if report.errors[1:] else ""
            extra.append(
                f"{report.name} could not read every input ({report.errors[0]}{more}): its "
                "findings can fail controls, but the controls its rules would pass are not assessed"
            )
    for report in reports:
        if report.rules_run is None:
            extra.append(
                f"{report.name} does not say which rules ran (written by an older mlstix): its "
                "findings can fail controls, but it passes none"
            )
    by_rule: dict[str, list[Failure]] = {}
    for report in reports:
        for f in report.findings:
            by_rule.setdefault(f.rule_id, []).append(Failure(report.name, f))
        unknown = sorted({f.rule_id for f in report.findings if f.rule_id not in catalog})
        if unknown:  # a finding that fails no control must not pass silently
            more = f" and {len(unknown) - 5} more" if unknown[5:] else ""
            shown = ", ".join(unknown[:5]) + more
            extra.append(
                f"{report.name} has findings of rules that decide no control ({shown}): they "
                "fail nothing here (rules of another mlstix version, or `mlstix detect` rules)"
            )
    results = tuple(
        _decide(benchmark, c, by_rule, ran, partial, attestations.get(c.id), catalog, platform)
        for c in benchmark.controls
        if level is None or c.level <= level
    )
    return Assessment(
        benchmark, results, level, platform, tuple(r.name for r in reports), tuple(extra)
    )
