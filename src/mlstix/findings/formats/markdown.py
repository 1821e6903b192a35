"""Markdown output: a report a person reads in a pull request, a ticket or a wiki page.

Findings are grouped by severity; each names its location, its KB vulnerability (name and key)
and the remediation from the courses of action. CommonMark / GitHub Flavored Markdown tables;
text from scanned files is escaped so it cannot break the layout.
"""

from __future__ import annotations

from mlstix import __version__
from mlstix.findings.evidence import evidence_sentence
from mlstix.findings.model import Report, Severity, count
from mlstix.kb.graph import KnowledgeBase

__all__ = ["render"]

_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_{}[]<>|#"})


def _esc(text: str) -> str:
    """Escape Markdown syntax and fold newlines, for text that came from scanned files."""
    return " ".join(text.translate(_SPECIAL).split())


def _code(text: str) -> str:
    return "`" + text.replace("`", "'").replace("\n", " ").replace("|", "\\|") + "`"


def render(report: Report, kb: KnowledgeBase) -> str:
    out = [f"# mlstix scan {report.scanner}", ""]
    counts = dict.fromkeys(Severity, 0)
    for f in report.findings:
        counts[f.severity] += 1
    out.append(
        f"mlstix {__version__} scanned {count(len(report.scanned), 'file')}: "
        f"{count(len(report.findings), 'finding')}, {count(len(report.errors), 'error')}."
    )
    out += ["", "| severity | findings |", "|---|---:|"]
    out += [f"| {s.value} | {counts[s]} |" for s in sorted(Severity, reverse=True)]
    out.append("")
    for sev in sorted(Severity, reverse=True):
        group = [f for f in report.findings if f.severity is sev]
        if not group:
            continue
        out += [f"## {sev.value.capitalize()} ({len(group)})", ""]
        for f in group:
            vuln = kb.vulnerability(f.vulnerability)
            out.append(f"### {_esc(f.title)}: {_code(str(f.location))}")
            out.append("")
            out.append(f"- **Rule:** {_code(f.rule_id)}")
            out.append(f"- **Finding:** {_esc(f.message)}")
            out.append(f"- **Vulnerability:** {vuln.name} ({_code(vuln.key)})")
            if f.evidence:
                out.append(f"- **Evidence:** {_esc(evidence_sentence(f.evidence))}")
            out.append("- **Remediation:**")
            for key in f.courses_of_action:
                coa = kb.course_of_action(key)
                out.append(
                    f"  - **{coa.name}** ({_code(coa.key)}): {' '.join(coa.summary.split())}"
                )
            out.append("")
    if report.errors:
        out += ["## Errors", "", "Files that could not be scanned (not clean: unknown).", ""]
        out += [f"- {_code(e.path)}: {_esc(e.message)}" for e in report.errors]
        out.append("")
    if report.scanned:
        out += ["## Scanned files", "", "| file | format | SHA-256 |", "|---|---|---|"]
        out += [
            f"| {_code(s.path)} | {s.kind} | {_code(s.sha256) if s.sha256 else ''} |"
            for s in report.scanned
        ]
        out.append("")
    return "\n".join(out)
