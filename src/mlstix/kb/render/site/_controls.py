"""The benchmark in the explorer: one page per control (``controls/<id>.html``) and, on each
course of action's page, the list of the controls that implement it.

A control page shows what the control requires, why, what it costs, how it is audited (the rules
that decide it and the manual procedure per platform), its remediation (the course of action's
steps it points at, linked back to that course of action) and its framework mappings.
"""

from __future__ import annotations

from mlstix.kb.controls import Benchmark, Control, load_benchmark, remediation_steps
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import CourseOfAction
from mlstix.kb.render.site._pages import _shell
from mlstix.kb.render.site.markup import esc, markdown

__all__ = ["control_pages", "control_path", "controls_section"]


def control_path(control: Control) -> str:
    return f"controls/{control.id.lower()}.html"


def _coa_link(kb: KnowledgeBase, key: str) -> str:
    return f'<a href="../objects/{esc(key)}.html">{esc(kb.course_of_action(key).name)}</a>'


def controls_section(kb: KnowledgeBase, coa: CourseOfAction) -> str:
    """The "Benchmark controls" section of a course of action's page (under ``objects/``)."""
    bench = load_benchmark(kb)
    rows = "".join(
        f'<tr><td><a href="../{esc(control_path(c))}">{esc(c.id)}</a></td>'
        f"<td>{esc(c.level)}</td><td>{esc(', '.join(p.value for p in c.platforms))}</td>"
        f"<td>{esc(c.title)}</td></tr>"
        for c in bench.controls
        if coa.key in bench.courses_of_action(c)
    )
    if not rows:
        return ""
    return (
        f'<section class="controls"><h2>{esc(bench.info.title)} controls</h2>'
        "<table><thead><tr><th>Control</th><th>Level</th><th>Platforms</th><th>Title</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></section>"
    )


def _mappings(kb: KnowledgeBase, control: Control) -> str:
    m = control.mappings
    atlas = ", ".join(f"{a} {kb.mitre_object(a).name}" for a in m.atlas)
    rows = [
        ("NIST SP 800-53 Rev. 5", ", ".join(m.nist_800_53)),
        ("NIST AI RMF 1.0", ", ".join(m.ai_rmf)),
        ("OWASP ML Top 10", ", ".join(m.owasp_ml)),
        ("MITRE ATLAS", atlas),
        ("EU AI Act", ", ".join(m.eu_ai_act)),
    ]
    return "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows if v)


def _control_page(kb: KnowledgeBase, bench: Benchmark, control: Control) -> str:
    coas = ", ".join(_coa_link(kb, k) for k in bench.courses_of_action(control))
    vulns = ", ".join(
        f'<a href="../objects/{esc(k)}.html">{esc(kb.vulnerability(k).name)}</a>'
        for k in control.closes
    )
    facts = (
        f"<dt>Level</dt><dd>{esc(control.level)}</dd>"
        f"<dt>Platforms</dt><dd>{esc(', '.join(p.value for p in control.platforms))}</dd>"
        f"<dt>Implements</dt><dd>{coas}</dd><dt>Closes</dt><dd>{vulns}</dd>"
    )
    audit = []
    if control.audit.automated:
        rules = ", ".join(
            f"<code>{esc(r)}</code>" for r in (*control.audit.rules, *control.audit.rule_patterns)
        )
        audit.append(
            f"<p>Decided automatically by {rules} (<code>mlstix benchmark assess</code>).</p>"
        )
    if control.audit.manual:
        items = "".join(
            f"<li><strong>{esc(p.value)}</strong>: {markdown(t)}</li>"
            for p, t in control.audit.manual.items()
        )
        audit.append(f"<h3>Manual audit</h3><ul>{items}</ul>")
    steps = []
    for s in remediation_steps(bench, control, kb):
        if s.step:
            where = f"{esc(s.platform)}, {_coa_link(kb, s.course_of_action)} step {s.step}"
            steps.append(f"<li><strong>{where}</strong>: {markdown(s.text)}</li>")
        else:
            steps.append(f"<li>{markdown(s.text)}</li>")
    section = bench.section_of(control)
    body = [
        f'<nav class="crumbs"><a href="../index.html">Explorer</a> › '
        f"{_coa_link(kb, section.course_of_action)} › {esc(control.id)}</nav>",
        f'<article class="object control" data-key="{esc(control.id)}">',
        f"<h1>{esc(control.id)} {esc(control.title)}</h1>",
        f'<p><span class="badge">{esc(bench.info.title)} {esc(bench.info.version)}</span></p>',
        f'<div class="summary">{markdown(control.statement)}</div>',
        f'<dl class="facts">{facts}</dl>',
        f"<section><h2>Rationale</h2>{markdown(control.rationale)}</section>",
        f"<section><h2>Impact</h2>{markdown(control.impact)}</section>",
        f"<section><h2>Audit</h2>{''.join(audit)}</section>",
        f"<section><h2>Remediation</h2><ul>{''.join(steps)}</ul></section>",
        f'<section><h2>Mappings</h2><dl class="facts">{_mappings(kb, control)}</dl></section>',
        "</article>",
    ]
    return _shell(f"{control.id} {control.title}", "../", "\n".join(body))


def control_pages(kb: KnowledgeBase) -> dict[str, str]:
    """Relative path -> HTML of every control page."""
    bench = load_benchmark(kb)
    return {control_path(c): _control_page(kb, bench, c) for c in bench.controls}
