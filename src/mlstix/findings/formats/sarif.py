"""SARIF 2.1.0 output (OASIS SARIF v2.1.0 errata 01), shaped for GitHub code scanning.

One run; ``tool.driver.rules`` holds one reporting descriptor per rule that produced a finding,
its descriptions and help taken from the knowledge base (vulnerability name and summary, the
courses of action's summaries) and ``properties.security-severity`` / ``properties.tags`` as
GitHub reads them (§3.49, §3.19.23 property bags). Each result (§3.27) points at the file by a
URI relative to the scan root (§3.4), a ``region.startLine`` (1 when the line is unknown: model
files are binary, and GitHub requires a region), and, for a member inside an archive, a logical
location (§3.33) naming the member. Scanned files are listed as ``artifacts`` with their SHA-256;
files that could not be scanned become tool execution notifications (§3.58).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from mlstix import __version__
from mlstix.findings.model import Finding, Report, Severity
from mlstix.kb.compile import PROJECT_URL
from mlstix.kb.graph import KnowledgeBase

__all__ = ["SARIF_SCHEMA", "artifact_uri", "render"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def artifact_uri(path: str) -> str:
    """A SARIF artifact URI for a report path: relative paths stay relative (to the scan root),
    absolute ones become ``file://`` URIs."""
    posix = path.replace("\\", "/")
    if posix.startswith("/"):
        return "file://" + quote(posix)
    parts = [p for p in PurePosixPath(posix).parts if p not in (".", "")]
    return quote("/".join(parts))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _rule(kb: KnowledgeBase, rule_id: str, findings: list[Finding]) -> dict[str, Any]:
    first = findings[0]
    worst = max(f.severity for f in findings)
    vuln = kb.vulnerability(first.vulnerability)
    coas = [kb.course_of_action(k) for k in first.courses_of_action]
    help_text = "\n".join(f"{c.name}: {_one_line(c.summary)}" for c in coas)
    help_md = "\n".join(
        [
            f"**{vuln.name}** (`{vuln.key}`): {_one_line(vuln.summary)}",
            "",
            "Remediation:",
            "",
            *(f"- **{c.name}** (`{c.key}`): {_one_line(c.summary)}" for c in coas),
        ]
    )
    return {
        "id": rule_id,
        "name": rule_id.rsplit("/", 1)[-1],
        "shortDescription": {"text": vuln.name},
        "fullDescription": {"text": _one_line(vuln.summary)},
        "help": {"text": help_text, "markdown": help_md},
        "defaultConfiguration": {"level": _LEVEL[worst]},
        "properties": {
            "security-severity": worst.security_severity,
            "problem.severity": "error" if worst >= Severity.HIGH else "warning",
            "precision": "high",
            "tags": ["security", "mlstix", vuln.key, *first.courses_of_action],
        },
    }


def _fingerprint(f: Finding) -> str:
    loc = f.location
    evidence = json.dumps(dict(f.evidence), sort_keys=True, default=str)
    raw = "\0".join([f.rule_id, loc.path, loc.member or "", loc.resource or "", evidence])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _result(f: Finding, rule_index: int) -> dict[str, Any]:
    loc = f.location
    text = f"{f.title}: {f.message}"
    if loc.member:
        text += f" (in archive member {loc.member})"
    physical: dict[str, Any] = {
        "artifactLocation": {"uri": artifact_uri(loc.path)},
        "region": {"startLine": loc.line if loc.line and loc.line > 0 else 1},
    }
    location: dict[str, Any] = {"physicalLocation": physical}
    logical = []
    if loc.member:
        logical.append({"name": loc.member, "fullyQualifiedName": f"{loc.path}!{loc.member}"})
    if loc.resource:
        logical.append({"name": loc.resource, "kind": "resource"})
    if logical:
        location["logicalLocations"] = logical
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[f.severity],
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {"mlstixFinding/v1": _fingerprint(f)},
        "properties": {
            "severity": f.severity.value,
            "vulnerability": f.vulnerability,
            "courses_of_action": list(f.courses_of_action),
            "evidence": json.loads(json.dumps(dict(f.evidence), default=str)),
        },
    }
    return result


def render(report: Report, kb: KnowledgeBase) -> str:
    by_rule: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    rule_ids = sorted(by_rule)
    index = {rid: i for i, rid in enumerate(rule_ids)}
    artifacts = []
    for s in report.scanned:
        artifact: dict[str, Any] = {"location": {"uri": artifact_uri(s.path)}}
        if s.sha256:
            artifact["hashes"] = {"sha-256": s.sha256}
        artifact["properties"] = {"kind": s.kind}
        artifacts.append(artifact)
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{e.path}: {e.message}"},
            "locations": [
                {"physicalLocation": {"artifactLocation": {"uri": artifact_uri(e.path)}}}
            ],
        }
        for e in report.errors
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "mlstix",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": PROJECT_URL,
                "rules": [_rule(kb, rid, by_rule[rid]) for rid in rule_ids],
            }
        },
        "automationDetails": {"id": f"mlstix/scan/{report.scanner}/"},
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": notifications,
            }
        ],
        "artifacts": artifacts,
        "results": [_result(f, index[f.rule_id]) for f in report.findings],
        "columnKind": "unicodeCodePoints",
    }
    sarif = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(sarif, indent=2, ensure_ascii=False) + "\n"
