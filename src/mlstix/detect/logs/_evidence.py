"""A matched event as a finding: who did what, from where, to which resource, when.

The finding speaks in knowledge-base terms like every other: ``vulnerability`` is the rule's
``mlstix.vulnerability``, ``courses_of_action`` are the courses of action that mitigate the rule's
attack pattern, and ``evidence`` carries the event itself.
"""

from __future__ import annotations

from typing import Any

from mlstix.detect.logs._shapes import Source
from mlstix.findings.model import Finding, Location, Severity
from mlstix.kb.detections import RuleMeta
from mlstix.kb.graph import KnowledgeBase

__all__ = ["finding_of", "lookup"]

_SEVERITY = {
    "informational": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


def lookup(obj: Any, dotted: str) -> Any:
    """The value at a dotted path; a key that itself contains dots (Azure claim URIs) wins."""
    if not dotted:
        return obj
    if not isinstance(obj, dict):
        return None
    if dotted in obj:
        return obj[dotted]
    head, sep, rest = dotted.partition(".")
    while sep:
        if head in obj:
            found = lookup(obj[head], rest)
            if found is not None:
                return found
        more, sep, rest = rest.partition(".")
        head = f"{head}.{more}"
    return None


def _first(event: Any, paths: tuple[str, ...]) -> str | None:
    for path in paths:
        value = lookup(event, path)
        if isinstance(value, list):
            value = value[0] if value else None
        if value not in (None, ""):
            return str(value)
    return None


def _resource(source: Source, event: Any) -> str | None:
    if source.key == "aws/cloudtrail":
        bucket = lookup(event, "requestParameters.bucketName")
        key = lookup(event, "requestParameters.key")
        if bucket and key:
            return f"s3://{bucket}/{key}"
    if source.key == "kubernetes/audit":
        ref = lookup(event, "objectRef") or {}
        if isinstance(ref, dict):
            parts = [ref.get("namespace"), ref.get("resource"), ref.get("name")]
            sub = ref.get("subresource")
            text = "/".join(str(p) for p in parts if p)
            return f"{text}/{sub}" if sub else text or None
    return _first(event, source.resource)


def _outcome(source: Source, event: Any) -> str | None:
    """Whether the request was allowed, from the response: Kubernetes ``responseStatus.code``
    (set at ResponseComplete; 101 is an upgraded exec/attach stream), CloudTrail ``errorCode``,
    Azure ``resultType``/``properties.statusCode``, Cloud Audit Logs ``protoPayload.status.code``
    (a google.rpc.Code: 7 PERMISSION_DENIED, 16 UNAUTHENTICATED)."""
    if source.key == "kubernetes/audit":
        code = lookup(event, "responseStatus.code")
        if not isinstance(code, int):
            return None
        if code in (401, 403):
            return f"denied, HTTP {code}"
        return f"allowed, HTTP {code}" if code < 400 else f"failed, HTTP {code}"
    if source.key == "aws/cloudtrail":
        error = lookup(event, "errorCode")
        if not error:
            return None
        denied = "AccessDenied" in str(error) or "Unauthorized" in str(error)
        return f"{'denied' if denied else 'failed'}, {error}"
    if source.key == "gcp/gcp.audit":
        code = lookup(event, "protoPayload.status.code")
        if not isinstance(code, int) or code == 0:
            return None
        return f"denied, status {code}" if code in (7, 16) else f"failed, status {code}"
    if source.key == "azure/activitylogs" and lookup(event, "resultType") == "Failure":
        status = lookup(event, "properties.statusCode")
        return f"failed, {status}" if status else "failed"
    return None


def finding_of(
    kb: KnowledgeBase,
    rule: RuleMeta,
    source: Source,
    event: Any,
    path: str,
    where: int,
    document: bool,
) -> Finding:
    principal = _first(event, source.principal)
    source_ip = _first(event, source.source_ip)
    resource = _resource(source, event)
    time = _first(event, (source.time,))
    action = _first(event, (source.action,))
    parts = [f"{action or 'event'}"]
    if resource:
        parts.append(f"on {resource}")
    parts.append(f"by {principal or 'an unknown principal'}")
    if source_ip:
        parts.append(f"from {source_ip}")
    if time:
        parts.append(f"at {time}")
    outcome = _outcome(source, event)
    if outcome:
        parts.append(f"({outcome})")
    coas = sorted(c.key for c in kb.mitigations_of(rule.attack_pattern))
    return Finding(
        rule_id=rule.name,
        severity=_SEVERITY[rule.level],
        title=rule.title,
        message=" ".join(parts),
        location=Location(
            path=path,
            member=f"record {where}" if document else None,
            line=None if document else where,
            resource=resource,
        ),
        vulnerability=rule.vulnerability,
        courses_of_action=tuple(coas),
        evidence={
            "sigma_id": rule.id,
            "attack_pattern": rule.attack_pattern,
            "time": time,
            "principal": principal,
            "source_ip": source_ip,
            "resource": resource,
            "action": action,
            "outcome": outcome,
            "event": event,
        },
    )
