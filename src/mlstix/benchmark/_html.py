"""The HTML scorecard: one self-contained page in the look of the HTML scan report.

It shares that report's stylesheet and its Content-Security-Policy (no scripts, no network
loads), so it opens offline and nothing in it can call home. Finding text comes from scanned
input and attestation text from a YAML file, so every value goes through
:func:`~mlstix.kb.render.site.markup.esc`.
"""

from __future__ import annotations

from mlstix import __version__
from mlstix.benchmark.assess import Assessment, ControlResult, Status
from mlstix.benchmark.scorecard import Group, groups, score
from mlstix.findings.formats.html import _CSS
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.render.site.markup import esc

__all__ = ["render_html"]

_STATUS_COLORS = {
    Status.PASS: "#15803d",
    Status.FAIL: "#dc2626",
    Status.MANUAL: "#7c3aed",
    Status.NOT_ASSESSED: "#6b7280",
    Status.NOT_APPLICABLE: "#94a3b8",
}
_EXTRA_CSS = ".loc{white-space:normal}td.st{white-space:nowrap}"


def _badge(status: Status) -> str:
    return (
        f'<span class="sev" style="background:{_STATUS_COLORS[status]}">{esc(status.value)}</span>'
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value * 100)}%"


def _control_row(r: ControlResult) -> str:
    att = r.attestation
    attested = (
        f'<div class="muted">attested by {esc(att.by)}, {esc(att.date.isoformat())}: '
        f"{esc(att.evidence)}</div>"
        if att is not None
        else ""
    )
    cid = esc(r.control.id)
    anchor = f'<a href="#{cid}">{cid}</a>' if r.status is Status.FAIL else cid
    return (
        f"<tr><td>{anchor}</td>"
        f'<td class="n">{r.control.level}</td><td class="st">{_badge(r.status)}</td>'
        f"<td>{esc(r.control.title)}</td><td>{esc(r.reason)}{attested}</td></tr>"
    )


def _group_table(title: str, rows: list[Group]) -> str:
    head = "".join(f"<th>{esc(s.value)}</th>" for s in Status)
    body = "".join(
        f"<tr><td>{esc(g.title)}</td><td class='n'>{_pct(g.score)}</td>"
        + "".join(f"<td class='n'>{g.counts[s]}</td>" for s in Status)
        + "</tr>"
        for g in rows
    )
    return (
        f"<h3>By {esc(title)}</h3><table><thead><tr><th></th><th>score</th>{head}</tr>"
        f"</thead><tbody>{body}</tbody></table>"
    )


def _failures(results: tuple[ControlResult, ...]) -> str:
    failed = [r for r in results if r.status is Status.FAIL]
    if not failed:
        return ""
    parts = ['<section id="failing"><h2>Failing resources</h2>']
    for r in failed:
        rows = "".join(
            f"<tr><td><code>{esc(f.finding.rule_id)}</code></td>"
            f"<td>{esc(f.finding.severity.value)}</td>"
            f'<td class="loc">{esc(str(f.finding.location))}</td>'
            f'<td class="msg">{esc(f.finding.message)}</td>'
            f'<td class="loc">{esc(f.report)}</td></tr>'
            for f in r.failures
        )
        parts.append(
            f'<div class="finding" id="{esc(r.control.id)}" '
            f'style="--c:{_STATUS_COLORS[Status.FAIL]}">'
            f"<h3>{esc(r.control.id)} {esc(r.control.title)}</h3>"
            "<table><thead><tr><th>Rule</th><th>Severity</th><th>Resource</th><th>Finding</th>"
            f"<th>Report</th></tr></thead><tbody>{rows}</tbody></table></div>"
        )
    parts.append("</section>")
    return "".join(parts)


def render_html(assessment: Assessment, kb: KnowledgeBase) -> str:
    info = assessment.benchmark.info
    counts = assessment.counts()
    cards = [("score", _pct(score(assessment.results)))] + [
        (s.value, str(n)) for s, n in counts.items()
    ]
    cards_html = "".join(f'<div class="card"><b>{esc(v)}</b>{esc(k)}</div>' for k, v in cards)
    scope = f"level {assessment.level}" if assessment.level else "all levels"
    scope += f" · {assessment.platform or 'all platforms'}"
    rollups = groups(assessment, kb)
    controls = "".join(_control_row(r) for r in assessment.results)
    reports = "".join(f"<li><code>{esc(n)}</code></li>" for n in assessment.reports)
    notes = "".join(f"<li>{esc(n)}</li>" for n in assessment.notes)
    title = f"{info.title} {info.version}: scorecard"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}{_EXTRA_CSS}</style></head><body>"
        f'<header><h1>{esc(title)}</h1><div class="muted">mlstix {esc(__version__)} · '
        f"{esc(scope)} · {len(assessment.results)} controls</div></header>"
        f'<section id="summary"><div class="cards">{cards_html}</div>'
        + _group_table("course of action", rollups["course_of_action"])
        + _group_table("vulnerability", rollups["vulnerability"])
        + _group_table("level", rollups["level"])
        + "</section>"
        '<section id="controls"><h2>Controls</h2><table><thead><tr><th>Control</th>'
        "<th>Level</th><th>Status</th><th>Title</th><th>Why</th></tr></thead>"
        f"<tbody>{controls}</tbody></table></section>"
        + _failures(assessment.results)
        + f'<section id="reports"><h2>Reports read</h2><ul>{reports or "<li>none</li>"}</ul>'
        + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "")
        + "</section></body></html>\n"
    )
