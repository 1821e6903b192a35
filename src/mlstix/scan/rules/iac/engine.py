"""Run rules over resources and produce findings in knowledge-base terms.

A finding's title is the KB vulnerability's name followed by the rule's title suffix; its
vulnerability and courses of action are the rule's KB keys (remediation prose is rendered from
the KB by the output formats). Its location is the resource's file, line and address.

The engine also counts what each rule judged, so that a report's ``rules_run`` names only the
rules that judged something: a declarative rule judges the resources of its check's types (those
its ``referenced_by`` admits), a Python rule those of the types it declares (``judges``), and
any rule the resources it found. A rule that ran over a scan holding none of them is reported
as not applicable (``rules_not_applicable``): it showed nothing, so it can pass no control.
Terraform data sources are read, not configured here: the rules' :class:`Context` keeps them
out of the resources a rule judges, and a hit on one is dropped (never a finding, never judged).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlstix.findings.model import Finding, Location, ScanError
from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.iac._values import lookup
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._refs import refers_to
from mlstix.scan.rules.iac.context import Context, Hit
from mlstix.scan.rules.iac.declarative import evaluate_condition
from mlstix.scan.rules.iac.model import Check, Rule
from mlstix.scan.rules.iac.registry import RuleRegistry

__all__ = ["Evaluation", "evaluate", "evaluate_isolated", "subject_matches", "subject_type"]


def _title(rule: Rule, kb: KnowledgeBase | None) -> str:
    if kb is not None and rule.vulnerability in kb:
        return f"{kb.vulnerability(rule.vulnerability).name}: {rule.title}"
    return rule.title


def _referenced(ctx: Context, check: Check, resource: Resource) -> bool:
    for spec in check.referenced_by:
        for other in ctx.in_scope(resource.scope, resource.dialect, spec.type):
            value = lookup(other.attributes, spec.path)
            if value is not None and refers_to(value, resource):
                return True
    return False


def _with_companions(ctx: Context, check: Check, resource: Resource) -> Mapping[str, Any]:
    """The resource's attributes, with those of its companion resources merged in."""
    if not check.companions:
        return resource.attributes
    merged = dict(resource.attributes)
    for spec in check.companions:
        for other in ctx.in_scope(resource.scope, resource.dialect, spec.type):
            value = lookup(other.attributes, spec.path)
            if value is not None and refers_to(value, resource):
                merged[spec.as_path] = {k: v for k, v in other.attributes.items() if k != spec.path}
    return merged


def _declarative(rule: Rule, ctx: Context, judged: set[int]) -> Iterable[Hit]:
    for dialect, checks in rule.check.items():
        for check in checks:
            for resource in ctx.of_type(dialect, *check.types):
                if check.referenced_by and not _referenced(ctx, check, resource):
                    continue
                judged.add(id(resource))
                attributes = _with_companions(ctx, check, resource)
                for cond in check.all:
                    failure = evaluate_condition(cond, attributes)
                    if failure is not None:
                        yield Hit(resource, failure.describe(), failure.evidence())
                        break


@dataclass
class Evaluation:
    """What the rules found, how many resources each rule judged, and the rules that failed on
    some input (an ``errors`` entry each, with the file; they did not run to the end, so they are
    in neither ``rules_run`` nor ``rules_not_applicable``)."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    judged: dict[str, int] = field(default_factory=dict)  # rule id -> resources it judged

    def ran(self, rules: Iterable[Rule]) -> list[str]:
        """The rules that ran to the end and judged at least one resource: ``rules_run``."""
        return [r.id for r in rules if r.id not in self.failed and self.judged.get(r.id, 0)]

    def not_applicable(self, rules: Iterable[Rule]) -> list[str]:
        """The rules that ran to the end over resources none of which they judge."""
        return [r.id for r in rules if r.id not in self.failed and not self.judged.get(r.id, 0)]


_AZAPI = "azapi_resource:"


def subject_type(pattern: str) -> str:
    """The resource type a ``judges`` pattern looks up (``azapi_resource`` for an azapi one)."""
    return _AZAPI[:-1] if pattern.startswith(_AZAPI) else pattern


def subject_matches(pattern: str, resource: Resource) -> bool:
    """Whether ``resource`` is of a type a rule's ``judges`` pattern names: an exact type, a
    prefix ending in ``*``, or ``azapi_resource:<ARM type>`` (Terraform's generic Azure resource,
    by the ARM type its ``type`` attribute names before ``@``)."""
    if pattern.startswith(_AZAPI):
        declared = resource.attributes.get("type")
        return (
            resource.type == _AZAPI[:-1]
            and isinstance(declared, str)
            and declared.split("@", 1)[0].lower() == pattern[len(_AZAPI) :].lower()
        )
    if pattern.endswith("*"):
        return resource.type.startswith(pattern[:-1])
    return resource.type == pattern


def _applicable(registry: RuleRegistry, rule: Rule, ctx: Context, judged: set[int]) -> None:
    """Record the resources a Python rule judges: those of the types it declares, or of them the
    ones its registered subjects say it looks at (model buckets, model servers)."""
    narrowed = registry.subjects.get(rule.logic or "")
    if narrowed is not None:
        judged.update(
            id(r)
            for r in narrowed(ctx)
            if not r.data
            and r.dialect in rule.dialects
            and any(subject_matches(p, r) for p in rule.subjects(r.dialect))
        )
        return
    for dialect in rule.dialects:
        for pattern in rule.subjects(dialect):
            if pattern.endswith("*"):
                found = [r for r in ctx.resources if r.dialect == dialect]
            else:
                found = ctx.of_type(dialect, subject_type(pattern))
            judged.update(id(r) for r in found if subject_matches(pattern, r))


def _hits(registry: RuleRegistry, rule: Rule, ctx: Context, judged: set[int]) -> list[Hit]:
    if rule.logic:
        _applicable(registry, rule, ctx, judged)
        hits = [h for h in registry.logic[rule.logic](ctx) if not h.resource.data]
    else:
        hits = list(_declarative(rule, ctx, judged))
    judged.update(id(h.resource) for h in hits if h.resource.dialect in rule.dialects)
    return hits


def _isolated(
    registry: RuleRegistry, rule: Rule, ctx: Context, out: Evaluation, judged: set[int]
) -> list[Hit]:
    """The rule's hits; a rule that raises is run again one scope (root module, template,
    manifest file) at a time, so one input it cannot handle costs that input only."""
    try:
        return _hits(registry, rule, ctx, judged)
    except Exception:  # a rule's defect must not end the scan: judge each scope on its own
        scopes: dict[tuple[str, str], list[Resource]] = {}
        for r in ctx.scanned:
            scopes.setdefault((r.scope, r.file if not r.scope else ""), []).append(r)
    hits: list[Hit] = []
    for group in scopes.values():
        try:
            hits += _hits(registry, rule, Context(tuple(group)), judged)
        except Exception as exc:
            out.failed.add(rule.id)
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            out.errors.append(
                ScanError(
                    min(r.file for r in group),
                    f"rule {rule.id} could not judge this input and skipped it ({detail})",
                )
            )
    return hits


def _findings(rule: Rule, hits: Iterable[Hit], kb: KnowledgeBase | None) -> Iterable[Finding]:
    title = _title(rule, kb)
    seen: set[tuple[str, str, int]] = set()
    for hit in hits:
        r = hit.resource
        if r.dialect not in rule.dialects:
            continue
        key = (r.file, r.address, r.line)
        if key in seen:
            continue
        seen.add(key)
        yield Finding(
            rule_id=rule.id,
            severity=rule.severity,
            title=title,
            message=f"{r.address}: {hit.detail}",
            location=Location(path=r.file, line=r.line, resource=r.address),
            vulnerability=rule.vulnerability,
            courses_of_action=rule.courses_of_action,
            evidence=dict(hit.evidence),
        )


def evaluate(
    registry: RuleRegistry,
    rules: Sequence[Rule],
    resources: Sequence[Resource],
    kb: KnowledgeBase | None,
) -> list[Finding]:
    """The rules' findings; a rule that raises ends the call (tests and callers that want
    every defect to show). Commands use :func:`evaluate_isolated`."""
    ctx = Context(tuple(resources))
    return [f for rule in rules for f in _findings(rule, _hits(registry, rule, ctx, set()), kb)]


def evaluate_isolated(
    registry: RuleRegistry,
    rules: Sequence[Rule],
    resources: Sequence[Resource],
    kb: KnowledgeBase | None,
) -> Evaluation:
    """The rules' findings, with a rule that fails on some input reported as an errors entry
    for that input instead of ending the scan."""
    ctx = Context(tuple(resources))
    out = Evaluation()
    for rule in rules:
        judged: set[int] = set()
        out.findings += _findings(rule, _isolated(registry, rule, ctx, out, judged), kb)
        out.judged[rule.id] = len(judged)
    return out
