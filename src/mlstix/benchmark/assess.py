"""Decide each benchmark control from scan and assessment reports and manual attestations.

A control is decided in this order (the first that applies wins):

1. **not-applicable** when ``--platform`` names a platform the control does not apply to;
2. **fail** when any report has a finding of one of its rules (findings outrank attestations:
   a reviewer cannot attest away a failing rule);
3. **not-applicable** when a reviewer attested it so;
4. **pass** when every one of its rules (those judging the selected platform) ran in at least one
   report, none found anything, on every platform its rules judge at least one of them judged a
   resource, and every platform in scope that the control applies to is judged by one of them
   (unless the control says its rules can fail it but not pass it: ``rules_can_pass: false``, or
   only on the platforms it lists in ``rules_pass_on``);
5. the attested result, when a reviewer attested pass or fail;
6. **not-assessed** when it has rules but some did not run in any report: never "pass" for a
   control whose rules did not run;
7. **manual** when no rule decides it (or, for some platform in scope, none of its rules judges
   that platform, or its rules cannot pass it) and nobody attested it;
8. **not-applicable** when its rules ran but none of them judged anything: the inputs held no
   resource of the kinds they check (an Azure rule on a Terraform scan of AWS resources);
9. **not-assessed** when its rules judged resources on some platforms and nothing on others: a
   pass would claim what was never checked there (assess with ``--platform``, or pass a report
   of the other platforms).

"Ran" comes from the reports' ``rules_run`` (the rules that judged at least one resource) and
``rules_not_applicable`` (the rules that ran over inputs holding nothing they judge). A report
without ``rules_run``, or written before ``rules_not_applicable`` existed (its ``rules_run`` then
names every rule evaluated, judged or not), contributes findings only, and so does a report with
``errors`` (inputs it could not read in full): a control whose rules ran only that way is
not-assessed, not pass.
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
    rules_idle: tuple[str, ...] = ()  # rules that ran but found nothing of their kinds to judge

    @property
    def nothing_judged(self) -> bool:
        """Not applicable because its rules found nothing to judge (not because of its scope or
        an attestation): the inputs, not the control, decided it."""
        return self.status is Status.NOT_APPLICABLE and bool(self.rules_idle) and not self.attested

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


@dataclass(frozen=True)
class _Ran:
    """What the reports show of the rules: judged something, ran over nothing to judge, ran only
    where a report could not read every input (report name), ran only in older reports."""

    judged: frozenset[str]
    idle: frozenset[str]
    partial: Mapping[str, str]
    legacy: frozenset[str]


def _empty_platforms(
    rules: tuple[str, ...], ran: _Ran, catalog: Mapping[str, CatalogRule]
) -> tuple[list[str], list[str]]:
    """The platforms its rules judge that some rule judged a resource on, and those where every
    one of its rules had nothing to judge. A rule of ``any`` platform (model files) that judged
    something covers every platform."""
    by_platform: dict[str, list[str]] = {}
    for r in rules:
        if r in catalog:
            by_platform.setdefault(catalog[r].platform, []).append(r)
    covered = sorted(p for p, rs in by_platform.items() if any(r in ran.judged for r in rs))
    if "any" in covered:
        return covered, []
    return covered, sorted(p for p in by_platform if p not in covered)


def _not_run_reason(not_run: tuple[str, ...], ran: _Ran, catalog: Mapping[str, CatalogRule]) -> str:
    old = [r for r in not_run if r in ran.legacy]
    reason = f"rules not run: {', '.join(not_run)}{_rule_hint(not_run, catalog)}"
    if old:
        reason += (
            f" ({', '.join(old)} ran only in reports of an older mlstix, which do not say whether "
            "they judged anything: scan again)"
        )
    return reason


def _decide(
    benchmark: Benchmark,
    control: Control,
    by_rule: Mapping[str, list[Failure]],
    ran: _Ran,
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
    partial = ran.partial
    not_run = tuple(r for r in rules if (r not in ran.judged and r not in ran.idle) or r in partial)
    idle = tuple(r for r in rules if r in ran.idle and r not in ran.judged and r not in partial)
    covered, empty = _empty_platforms(rules, ran, catalog)
    unjudged = _unjudged(control, rules, catalog, platform)
    judged_all = bool(covered) and not empty
    if rules and not not_run and judged_all and not unjudged and control.audit.rules_can_pass:
        n = len(rules) - len(idle)
        reason = f"{n} rule{'s' * (n != 1)} judged the inputs with no finding"
        if idle:
            reason += f"; {', '.join(idle)} had nothing to judge"
        return ControlResult(control, Status.PASS, reason, rules, (), (), attestation, idle)
    if attestation is not None:
        status = Status(attestation.result.value)
        reason = f"attested {status.value} by {attestation.by} on {attestation.date}"
        return ControlResult(control, status, reason, rules, not_run, (), attestation, idle)
    incomplete = sorted({partial[r] for r in not_run if r in partial})
    if incomplete:
        reason = (
            f"{', '.join(incomplete)} could not read every input, so its rules "
            f"{', '.join(r for r in not_run if r in partial)} cannot pass it: fix or exclude "
            "what it could not read and scan again"
        )
        return ControlResult(control, Status.NOT_ASSESSED, reason, rules, not_run)
    if not_run:
        reason = _not_run_reason(not_run, ran, catalog)
        return ControlResult(control, Status.NOT_ASSESSED, reason, rules, not_run, rules_idle=idle)
    nothing = (
        f"its rules ({', '.join(idle)}) found no resource of the kinds they check in the inputs"
    )
    if rules and not control.audit.rules_can_pass:
        reason = (
            "its rules ran with no finding, but they cannot show it is met: follow the manual "
            "audit and attest the result"
        )
        if not covered:
            reason = f"{nothing}, and they cannot show it is met: follow the manual audit"
        return ControlResult(control, Status.MANUAL, reason, rules, rules_idle=idle)
    if rules and unjudged:
        reason = (
            f"its rules ran with no finding, but they cannot show it is met on "
            f"{', '.join(unjudged)}: follow the manual audit there and attest the result"
        )
        return ControlResult(control, Status.MANUAL, reason, rules, rules_idle=idle)
    if rules and not covered:
        reason = f"not applicable to the inputs: {nothing}"
        return ControlResult(control, Status.NOT_APPLICABLE, reason, rules, rules_idle=idle)
    if rules:
        empty_rules = [r for r in idle if catalog[r].platform in empty]
        reason = (
            f"judged on {', '.join(covered)} with no finding, but its "
            f"rule{'s' * (len(empty_rules) != 1)} for {', '.join(empty)} "
            f"({', '.join(empty_rules)}) found nothing to judge in the "
            f"inputs: pass a report that covers {', '.join(empty)}, or assess with "
            f"--platform {covered[0]}"
        )
        return ControlResult(control, Status.NOT_ASSESSED, reason, rules, rules_idle=idle)
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
    judged = frozenset(r for report in reports for r in report.judged)
    idle = frozenset(r for report in reports for r in report.rules_not_applicable or ())
    legacy = frozenset(r for report in reports if report.legacy for r in report.rules_run or ())
    # rules that ran over inputs a report could not read in full: they fail, never pass
    partial = {
        r: report.name
        for report in reports
        if report.errors
        for r in (*(report.rules_run or ()), *(report.rules_not_applicable or ()))
    }
    ran = _Ran(judged, idle, partial, legacy - judged - idle)
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
        elif report.legacy:
            extra.append(
                f"{report.name} does not say which of its rules judged a resource (written by "
                "an mlstix before rules_not_applicable): its findings can fail controls, but it "
                "passes none; scan again to pass controls"
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
        _decide(benchmark, c, by_rule, ran, attestations.get(c.id), catalog, platform)
        for c in benchmark.controls
        if level is None or c.level <= level
    )
    return Assessment(
        benchmark, results, level, platform, tuple(r.name for r in reports), tuple(extra)
    )
