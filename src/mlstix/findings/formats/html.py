"""The HTML report: one self-contained file a person reads, or prints to PDF.

Everything is inline (CSS, SVG charts) and the page declares a Content-Security-Policy that
forbids scripts and every network load (``default-src 'none'``), so it opens anywhere, offline,
and nothing in it can call home. Findings carry attacker-controlled text (a scanned file chooses
its global names, member names, resource names), so every value from the report goes through
:func:`~mlstix.kb.render.site.markup.esc`; knowledge-base prose goes through Markdown with raw
HTML disabled.

Sections: a summary (counts by severity with a bar chart, by vulnerability, by cloud), the
findings ordered by severity with their remediation from the knowledge base
(:func:`mlstix.findings.model.remediation`), the remediation guidance of every course of action
involved (with each cloud's implementation steps, for the clouds the findings are in), errors
and the scanned files. The cloud of a finding is inferred from its rule id, its resource, and the
``cloud``/``provider``/``resource_type`` evidence (see :func:`infer_cloud`).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import PurePath

from mlstix import __version__
from mlstix.findings.evidence import evidence_sentence
from mlstix.findings.model import Finding, Report, Severity, count, remediation
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import Cloud
from mlstix.kb.render.site.markup import esc, markdown

__all__ = ["infer_cloud", "render"]

_SEV_COLORS = {
    Severity.CRITICAL: "#9b1c1c",
    Severity.HIGH: "#dc2626",
    Severity.MEDIUM: "#d97706",
    Severity.LOW: "#2563eb",
    Severity.INFO: "#6b7280",
}
_CLOUD_WORDS = {
    Cloud.AWS: {"aws", "amazon", "sagemaker", "s3", "bedrock", "cloudformation"},
    Cloud.AZURE: {"az", "azure", "azurerm", "azureml", "microsoft", "arm", "bicep"},
    Cloud.GCP: {"gcp", "google", "vertex", "vertexai", "gcs", "gke"},
}
_NO_CLOUD = "not cloud-specific"
_CSS = """
:root{--fg:#1a202c;--muted:#4a5568;--line:#d8dee9;--soft:#f5f7fa}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1100px;padding:1.5rem;color:var(--fg);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
h1{font-size:1.6rem;margin:0 0 .2rem}h2{font-size:1.2rem;border-bottom:1px solid var(--line);
margin-top:1.8rem}h3{font-size:1rem;margin:.2rem 0}
.muted{color:var(--muted)}table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:var(--soft)}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:.8rem 0}
.card{border:1px solid var(--line);border-radius:6px;padding:.4rem .8rem;min-width:7rem}
.card b{display:block;font-size:1.4rem}
.sev{display:inline-block;color:#fff;border-radius:4px;padding:0 .45rem;font-size:.8rem;
font-weight:700;text-transform:uppercase;-webkit-print-color-adjust:exact;print-color-adjust:exact}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1.2rem}
.finding{border:1px solid var(--line);border-left:5px solid var(--c);border-radius:6px;
padding:.6rem .9rem;margin:.7rem 0;break-inside:avoid}
.finding .head{display:flex;gap:.6rem;align-items:baseline;flex-wrap:wrap}
.finding .rule,.loc,code{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;
font-size:.85rem}
.msg,.remedy{white-space:pre-wrap;overflow-wrap:anywhere}
.loc{overflow-wrap:anywhere}
.ev{margin:.3rem 0;font-size:.85rem;overflow-wrap:anywhere}
.coa{break-inside:avoid-page;border-top:1px solid var(--line);padding-top:.4rem}
svg text{font:12px system-ui,"DejaVu Sans",sans-serif}
@page{margin:14mm}
@media print{body{max-width:none;padding:0;font-size:11px}a{color:inherit;text-decoration:none}
h2{break-after:avoid}.grid{grid-template-columns:1fr 1fr}}
"""


def infer_cloud(finding: Finding) -> Cloud | None:
    """The cloud a finding is about, from its rule id, resource and cloud evidence; else None.

    Free-form evidence (a pickle's global name, a message) is not consulted: a scanned file
    could name any cloud there.
    """
    ev = finding.evidence
    texts = [
        str(ev.get("cloud", "")),
        str(ev.get("provider", "")),
        finding.rule_id,
        finding.location.resource or "",
        str(ev.get("resource_type", "")),
    ]
    for text in texts:
        words = set(re.split(r"[^a-z0-9]+", text.lower()))
        for cloud, known in _CLOUD_WORDS.items():
            if words & known:
                return cloud
    return None


def _sev(severity: Severity) -> str:
    return (
        f'<span class="sev" style="background:{_SEV_COLORS[severity]}">{esc(severity.value)}</span>'
    )


def _label_lines(label: str, width: int = 34) -> list[str]:
    """A chart label folded at word boundaries into lines of about ``width`` characters (never
    cut: a long vulnerability name keeps every word)."""
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _bar_chart(title: str, rows: Sequence[tuple[str, int, str]]) -> str:
    """A horizontal bar chart as inline SVG; ``rows`` are (label, value, colour). Labels wrap
    onto as many lines as they need, and each row is as tall as its label."""
    label_w, bar_w, line_h, pad = 250, 290, 15, 9
    folded = [_label_lines(label) for label, _, _ in rows]
    height = sum(line_h * len(lines) + pad for lines in folded) + 10
    top = max((v for _, v, _ in rows), default=0) or 1
    parts = [
        f'<svg role="img" aria-label="{esc(title)}" viewBox="0 0 {label_w + bar_w + 50} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>'
    ]
    y = 5
    for lines, (label, value, color) in zip(folded, rows, strict=True):
        row_h = line_h * len(lines) + pad
        w = max(round(bar_w * value / top), 1)
        mid = y + row_h / 2
        first = mid - line_h * (len(lines) - 1) / 2 + 4
        spans = "".join(
            f'<tspan x="{label_w - 6}" y="{first + i * line_h:g}">{esc(line)}</tspan>'
            for i, line in enumerate(lines)
        )
        parts.append(
            f'<text text-anchor="end"><title>{esc(label)}</title>{spans}</text>'
            f'<rect x="{label_w}" y="{mid - 8:g}" width="{w}" height="16" '
            f'fill="{esc(color)}" style="print-color-adjust:exact"/>'
            f'<text x="{label_w + w + 5}" y="{mid + 4:g}">{value}</text>'
        )
        y += row_h
    parts.append("</svg>")
    return "".join(parts)


def _vuln_name(kb: KnowledgeBase, key: str) -> str:
    return kb.get(key).name if key in kb else key


def _summary(report: Report, kb: KnowledgeBase) -> str:
    by_sev = Counter(f.severity for f in report.findings)
    sev_rows = [(s.value, by_sev[s], _SEV_COLORS[s]) for s in sorted(Severity, reverse=True)]
    by_vuln = Counter(f.vulnerability for f in report.findings)
    worst = {k: max(f.severity for f in report.findings if f.vulnerability == k) for k in by_vuln}
    vuln_order = sorted(by_vuln, key=lambda k: (-by_vuln[k], -worst[k].rank, k))
    by_cloud = Counter((c.title if (c := infer_cloud(f)) else _NO_CLOUD) for f in report.findings)
    cards = [("findings", len(report.findings))]
    cards += [(s.value, by_sev[s]) for s in sorted(Severity, reverse=True)]
    cards += [("files scanned", len(report.scanned)), ("errors", len(report.errors))]
    vuln_rows = "".join(
        f"<tr><td>{esc(_vuln_name(kb, k))}</td><td>{_sev(worst[k])}</td>"
        f'<td class="n">{by_vuln[k]}</td></tr>'
        for k in vuln_order
    )
    cloud_rows = "".join(
        f'<tr><td>{esc(name)}</td><td class="n">{n}</td></tr>'
        for name, n in sorted(by_cloud.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    chart_vulns = [(_vuln_name(kb, k), by_vuln[k], _SEV_COLORS[worst[k]]) for k in vuln_order[:12]]
    return (
        '<section id="summary"><h2>Summary</h2><div class="cards">'
        + "".join(f'<div class="card"><b>{n}</b>{esc(label)}</div>' for label, n in cards)
        + '</div><div class="grid"><div><h3>Findings by severity</h3>'
        + _bar_chart("Findings by severity", sev_rows)
        + "</div><div><h3>Findings by vulnerability</h3>"
        + (_bar_chart("Findings by vulnerability", chart_vulns) if chart_vulns else "<p>none</p>")
        + "</div></div>"
        + '<div class="grid"><div><h3>By vulnerability</h3><table><thead><tr><th>Vulnerability'
        + "</th><th>Worst</th><th>Findings</th></tr></thead><tbody>"
        + (vuln_rows or '<tr><td colspan="3">no findings</td></tr>')
        + "</tbody></table></div><div><h3>By cloud</h3><table><thead><tr><th>Cloud</th>"
        + "<th>Findings</th></tr></thead><tbody>"
        + (cloud_rows or '<tr><td colspan="2">no findings</td></tr>')
        + "</tbody></table></div></div></section>"
    )


def _remedy(kb: KnowledgeBase, finding: Finding) -> str:
    known = [k for k in finding.courses_of_action if k in kb]
    if len(known) == len(finding.courses_of_action):
        text = remediation(kb, finding)
    else:
        text = "see the courses of action: " + ", ".join(finding.courses_of_action)
    links = ", ".join(
        f'<a href="#coa-{esc(k)}">{esc(kb.get(k).name if k in kb else k)}</a>'
        for k in finding.courses_of_action
    )
    return (
        f"<div><b>Remediation</b> ({links or 'none listed'})"
        f'<div class="remedy">{esc(text)}</div></div>'
    )


def _finding(kb: KnowledgeBase, index: int, f: Finding) -> str:
    cloud = infer_cloud(f)
    evidence = evidence_sentence(f.evidence) if f.evidence else ""
    return (
        f'<article class="finding" id="finding-{index}" style="--c:{_SEV_COLORS[f.severity]}">'
        f'<div class="head">{_sev(f.severity)}<h3>{esc(f.title)}</h3>'
        f'<span class="rule muted">{esc(f.rule_id)}</span></div>'
        f'<div class="loc">{esc(f.location)}</div>'
        f'<div class="msg">{esc(f.message)}</div>'
        + (
            f'<div class="ev"><span class="muted">Evidence:</span> {esc(evidence)}</div>'
            if evidence
            else ""
        )
        + f'<div class="muted">Vulnerability: {esc(_vuln_name(kb, f.vulnerability))}'
        f" ({esc(f.vulnerability)}) · cloud: {esc(cloud.title if cloud else _NO_CLOUD)}</div>"
        f"{_remedy(kb, f)}</article>"
    )


def _guidance(report: Report, kb: KnowledgeBase) -> str:
    clouds: dict[str, set[Cloud]] = {}
    for f in report.findings:
        for key in f.courses_of_action:
            seen = clouds.setdefault(key, set())
            if (c := infer_cloud(f)) is not None:
                seen.add(c)
    parts = []
    for key in sorted(clouds, key=lambda k: kb.get(k).name if k in kb else k):
        if key not in kb:
            continue
        coa = kb.course_of_action(key)
        body = [f'<div class="coa" id="coa-{esc(key)}"><h3>{esc(coa.name)}</h3>']
        body.append(markdown(coa.summary))
        for cloud in (c for c in Cloud if c in clouds[key]):
            steps = "".join(f"<li>{markdown(s)}</li>" for s in coa.cloud[cloud].steps)
            body.append(f"<h4>On {esc(cloud.title)}</h4><ol>{steps}</ol>")
        if not clouds[key]:
            body.append(
                '<p class="muted">Step-by-step guidance for AWS, Azure and Google Cloud: '
                f"<code>mlstix kb show {esc(key)} --cloud aws|azure|gcp</code></p>"
            )
        body.append("</div>")
        parts.append("".join(body))
    if not parts:
        return ""
    return '<section id="remediation"><h2>Remediation guidance</h2>' + "".join(parts) + "</section>"


def _scanned_what(report: Report) -> str:
    """What was scanned, in a few words: the scanner and the folder(s) the files are in."""
    paths = [s.path for s in report.scanned] or [e.path for e in report.errors]
    if not paths:
        return "nothing"
    folders = sorted({str(PurePath(p).parent) for p in paths})
    try:
        common = os.path.commonpath(folders)
    except ValueError:  # absolute and relative paths together
        common = ""
    where = common if common not in ("", ".") or len(folders) == 1 else ", ".join(folders[:3])
    if len(folders) > 3 and not common:
        where += ", …"
    return f"{count(len(report.scanned), 'file')} in {where or '.'}"


def render(report: Report, kb: KnowledgeBase, *, now: datetime | None = None) -> str:
    """The report as one HTML page; ``now`` is when it was made (default: the current time)."""
    findings = "".join(_finding(kb, i, f) for i, f in enumerate(report.findings, 1))
    errors = "".join(
        f'<tr><td class="loc">{esc(e.path)}</td><td class="msg">{esc(e.message)}</td></tr>'
        for e in report.errors
    )
    scanned = "".join(
        f'<tr><td class="loc">{esc(s.path)}</td><td>{esc(s.kind)}</td>'
        f"<td><code>{esc(s.sha256 or '')}</code></td></tr>"
        for s in report.scanned
    )
    title = f"mlstix scan report: {report.scanner}"
    made = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>{esc(title)}</h1><div class="muted">Made {esc(made)} by mlstix '
        f"{esc(__version__)} · scanned: {esc(_scanned_what(report))} · "
        f"{count(len(report.findings), 'finding')} · {count(len(report.errors), 'error')}"
        "</div></header>"
        + _summary(report, kb)
        + '<section id="findings"><h2>Findings</h2>'
        + (findings or "<p>No findings.</p>")
        + "</section>"
        + _guidance(report, kb)
        + (
            '<section id="errors"><h2>Errors</h2><p>These inputs could not be scanned; '
            "unreadable is not clean.</p><table><thead><tr><th>Path</th><th>Error</th></tr>"
            f"</thead><tbody>{errors}</tbody></table></section>"
            if errors
            else ""
        )
        + '<section id="scanned"><h2>Scanned files</h2><table><thead><tr><th>Path</th>'
        "<th>Kind</th><th>SHA-256</th></tr></thead><tbody>"
        + (scanned or '<tr><td colspan="3">none</td></tr>')
        + "</tbody></table></section></body></html>\n"
    )
