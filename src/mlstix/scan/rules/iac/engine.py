"""Run rules over resources and produce findings in knowledge-base terms.

A finding's title is the KB vulnerability's name followed by the rule's title suffix; its
vulnerability and courses of action are the rule's KB keys (remediation prose is rendered from
the KB by the output formats). Its location is the resource's file, line and address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlstix.findings.model import Finding, Location
from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.iac._values import lookup
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._refs import refers_to
from mlstix.scan.rules.iac.context import Context, Hit
from mlstix.scan.rules.iac.declarative import evaluate_condition
from mlstix.scan.rules.iac.model import Check, Rule
from mlstix.scan.rules.iac.registry import RuleRegistry

__all__ = ["evaluate"]


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


def _declarative(rule: Rule, ctx: Context) -> Iterable[Hit]:
    for dialect, checks in rule.check.items():
        for check in checks:
            for resource in ctx.of_type(dialect, *check.types):
                if check.referenced_by and not _referenced(ctx, check, resource):
                    continue
                attributes = _with_companions(ctx, check, resource)
                for cond in check.all:
                    failure = evaluate_condition(cond, attributes)
                    if failure is not None:
                        yield Hit(resource, failure.describe(), failure.evidence())
                        break


def evaluate(
    registry: RuleRegistry,
    rules: Sequence[Rule],
    resources: Sequence[Resource],
    kb: KnowledgeBase | None,
) -> list[Finding]:
    ctx = Context(tuple(resources))
    findings: list[Finding] = []
    for rule in rules:
        hits = registry.logic[rule.logic](ctx) if rule.logic else _declarative(rule, ctx)
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
            findings.append(
                Finding(
                    rule_id=rule.id,
                    severity=rule.severity,
                    title=title,
                    message=f"{r.address}: {hit.detail}",
                    location=Location(path=r.file, line=r.line, resource=r.address),
                    vulnerability=rule.vulnerability,
                    courses_of_action=rule.courses_of_action,
                    evidence=dict(hit.evidence),
                )
            )
    return findings
