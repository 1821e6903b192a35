"""SARIF 2.1.0 output (OASIS SARIF v2.1.0 errata 01), shaped for GitHub code scanning.

One run; ``tool.driver.rules`` holds one reporting descriptor per rule that produced a finding
(§3.49): a readable ``name`` (PascalCase of the rule's title, never equal to the opaque ``id``,
§3.49.7 and the multitool's SARIF1001), the rule's own title as ``shortDescription`` (so the
rules of one vulnerability are told apart in a code-scanning list), the knowledge-base
vulnerability in ``fullDescription`` and ``help`` with the courses of action that fix it, and
``properties.security-severity`` / ``properties.tags`` as GitHub reads them (§3.19.23).

Each result (§3.27) points at the file by a URI relative to a base (§3.4.4): paths under the
working folder are relative to ``SRCROOT`` (the working folder, normally the repository root in
CI), other absolute paths to ``SCANROOT`` (the git checkout holding them, else their common
folder); both bases are declared in
``run.originalUriBaseIds`` (§3.14.14) as absolute ``file://`` URIs. A result has a
``region.startLine`` (1 when the line is unknown: model files are binary, and GitHub requires
a region), and, for a member inside an archive, a logical location (§3.33) naming the member.
Scanned files are listed as ``artifacts`` with their SHA-256; files that could not be scanned
become tool execution notifications (§3.58). Checked in the tests with Microsoft's SARIF
multitool (``validate --rule-kind "Gh;Sarif"``): no errors, no warnings.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from mlstix import __version__
from mlstix.findings.model import Finding, Report, Severity
from mlstix.kb.compile import PROJECT_URL
from mlstix.kb.graph import KnowledgeBase

__all__ = ["SARIF_SCHEMA", "UriBases", "artifact_uri", "render"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def _relative_uri(posix: str) -> str:
    parts = [p for p in PurePosixPath(posix).parts if p not in (".", "")]
    return quote("/".join(parts))


def artifact_uri(path: str) -> str:
    """A SARIF URI for a report path relative to the working folder (no base resolution)."""
    return _relative_uri(path.replace("\\", "/"))


def _folder_uri(folder: Path) -> str:
    uri = folder.as_uri()
    return uri if uri.endswith("/") else uri + "/"


class UriBases:
    """Artifact locations relative to ``SRCROOT`` (``root``, the working folder by default) or,
    for absolute paths outside it, to ``SCANROOT`` (the git checkout holding those paths, else
    their common folder)."""

    def __init__(self, paths: list[str], root: str | None = None) -> None:
        self.root = Path(root or Path.cwd()).absolute()
        outside = [Path(p) for p in paths if Path(p).is_absolute() and not self._under_root(p)]
        common = Path(os.path.commonpath([p.parent for p in outside])) if outside else None
        self.scan_root = _repository_root(common) if common is not None else None
        self.used: set[str] = set()

    def _under_root(self, path: str) -> bool:
        return Path(path).absolute().is_relative_to(self.root)

    def location(self, path: str) -> dict[str, str]:
        """An ``artifactLocation`` for ``path``."""
        target = Path(path)
        if not target.is_absolute():
            base, rel = "SRCROOT", path.replace("\\", "/")
        elif self._under_root(path):
            base, rel = "SRCROOT", target.absolute().relative_to(self.root).as_posix()
        else:
            assert self.scan_root is not None
            base, rel = "SCANROOT", target.relative_to(self.scan_root).as_posix()
        self.used.add(base)
        return {"uri": _relative_uri(rel), "uriBaseId": base}

    def original(self) -> dict[str, Any]:
        """``run.originalUriBaseIds`` for the bases used."""
        described = {
            "SRCROOT": (self.root, "the working folder of the scan"),
            "SCANROOT": (self.scan_root, "the checkout (or folder) of the scanned paths"),
        }
        out: dict[str, Any] = {}
        for base in sorted(self.used):
            folder, text = described[base]
            assert folder is not None
            out[base] = {"uri": _folder_uri(folder), "description": {"text": text}}
        return out


def _repository_root(folder: Path) -> Path:
    """The root of the git checkout holding ``folder`` (what code scanning resolves URIs
    against), else ``folder`` itself."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder


def _pascal(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text)
    return "".join(w[:1].upper() + w[1:] for w in words)


def _rule_title(finding: Finding, vulnerability_name: str) -> str:
    """The rule's own title: the finding title without the vulnerability's name in front (IaC
    rules), or, where the title is the vulnerability alone (model rules), the rule id in words."""
    prefix = f"{vulnerability_name}: "
    if finding.title.startswith(prefix) and len(finding.title) > len(prefix):
        return finding.title[len(prefix) :]
    slug = finding.rule_id.rsplit("/", 1)[-1].replace("-", " ").replace("_", " ")
    return slug[:1].upper() + slug[1:]


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
    title = _rule_title(first, vuln.name)
    name = _pascal(title)
    if name == rule_id:
        name = _pascal(f"{vuln.name} {title}")
    return {
        "id": rule_id,
        "name": name,
        "shortDescription": {"text": title},
        "fullDescription": {"text": f"{vuln.name}: {_one_line(vuln.summary)}"},
        "help": {
            "text": f"{vuln.name}: {_one_line(vuln.summary)}\n{help_text}",
            "markdown": help_md,
        },
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


def _result(f: Finding, rule_index: int, bases: UriBases) -> dict[str, Any]:
    loc = f.location
    text = f"{f.title}: {f.message}"
    if loc.member:
        text += f" (in archive member {loc.member})"
    physical: dict[str, Any] = {
        "artifactLocation": bases.location(loc.path),
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


def render(report: Report, kb: KnowledgeBase, *, root: str | None = None) -> str:
    """The report as SARIF; paths are made relative to ``root`` (default: the working folder)."""
    paths = [s.path for s in report.scanned]
    paths += [f.location.path for f in report.findings]
    paths += [e.path for e in report.errors]
    bases = UriBases(paths, root)
    by_rule: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    rule_ids = sorted(by_rule)
    index = {rid: i for i, rid in enumerate(rule_ids)}
    artifacts = []
    for s in report.scanned:
        artifact: dict[str, Any] = {"location": bases.location(s.path)}
        if s.sha256:
            artifact["hashes"] = {"sha-256": s.sha256}
        artifact["properties"] = {"kind": s.kind}
        artifacts.append(artifact)
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{e.path}: {e.message}"},
            "locations": [{"physicalLocation": {"artifactLocation": bases.location(e.path)}}],
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
        "results": [_result(f, index[f.rule_id], bases) for f in report.findings],
        "columnKind": "unicodeCodePoints",
    }
    if bases.used:
        run["originalUriBaseIds"] = bases.original()
    sarif = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(sarif, indent=2, ensure_ascii=False) + "\n"
