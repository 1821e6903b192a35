"""Renderings the CLI needs: a control as Markdown, the scorecard as a terminal table, the
scorecard in a named format, and the benchmark in an export format."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlstix.benchmark.assess import Assessment, Status
from mlstix.benchmark.scorecard import RENDERERS, groups, score
from mlstix.kb.controls import Benchmark, Control, remediation_steps
from mlstix.kb.graph import KnowledgeBase

__all__ = ["control_markdown", "export_benchmark", "print_scorecard", "render_scorecard"]


def control_markdown(bench: Benchmark, control: Control, kb: KnowledgeBase) -> str:
    coas = ", ".join(kb.course_of_action(k).name for k in bench.courses_of_action(control))
    vulns = ", ".join(kb.vulnerability(k).name for k in control.closes)
    lines = [
        f"# {control.id} {control.title}",
        "",
        f"**Level {control.level}** · platforms: "
        f"{', '.join(p.value for p in control.platforms)} · implements: {coas} · closes: {vulns}",
        "",
        " ".join(control.statement.split()),
        "",
        "## Rationale",
        "",
        " ".join(control.rationale.split()),
        "",
        "## Impact",
        "",
        " ".join(control.impact.split()),
        "",
        "## Audit",
        "",
    ]
    if control.audit.automated:
        rules = ", ".join(f"`{r}`" for r in (*control.audit.rules, *control.audit.rule_patterns))
        limit = ""
        if not control.audit.rules_can_pass:
            limit = " Their findings fail it; a pass needs the manual audit, attested."
        elif control.audit.rules_pass_on:
            only = ", ".join(p.value for p in control.audit.rules_pass_on)
            limit = f" A clean run passes it on {only} only; elsewhere the manual audit decides."
        lines += [f"Automated by {rules}.{limit}", ""]
    for platform, text in control.audit.manual.items():
        lines += [f"- **{platform.value}**: {' '.join(text.split())}"]
    lines += ["", "## Remediation", ""]
    for step in remediation_steps(bench, control, kb):
        where = f"**{step.platform}** (step {step.step}): " if step.step else ""
        lines.append(f"- {where}{step.text}")
    m = control.mappings
    lines += [
        "",
        "## Mappings",
        "",
        f"- NIST SP 800-53 Rev. 5: {', '.join(m.nist_800_53)}",
        f"- NIST AI RMF 1.0: {', '.join(m.ai_rmf)}",
    ]
    if m.owasp_ml:
        lines.append(f"- OWASP ML Top 10: {', '.join(m.owasp_ml)}")
    if m.atlas:
        names = ", ".join(f"{a} {kb.mitre_object(a).name}" for a in m.atlas)
        lines.append(f"- MITRE ATLAS: {names}")
    if m.eu_ai_act:
        lines.append(f"- EU AI Act: {', '.join(m.eu_ai_act)}")
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value * 100)}%"


def print_scorecard(
    assessment: Assessment,
    kb: KnowledgeBase,
    console: Console,
    style: Mapping[str, str],
    *,
    controls: bool = True,
) -> None:
    """The scorecard on a terminal; ``controls=False`` leaves out the per-control table."""
    info = assessment.benchmark.info
    if controls:
        table = Table(title=f"{info.title} {info.version}", show_lines=False)
        for col in ("control", "lvl", "status", "title", "why"):
            table.add_column(col, no_wrap=col in {"control", "status"})
        for r in assessment.results:
            st = r.status.value
            table.add_row(
                r.control.id,
                str(r.control.level),
                f"[{style[st]}]{st}[/]",
                escape(r.control.title),
                escape(r.reason),
            )
        console.print(table)
    roll = Table(title=f"{info.title} {info.version}: by course of action")
    roll.add_column("course of action")
    roll.add_column("score", justify="right")
    for s in Status:
        roll.add_column(s.value, justify="right")
    for g in groups(assessment, kb)["course_of_action"]:
        roll.add_row(escape(g.title), _pct(g.score), *(str(g.counts[s]) for s in Status))
    console.print(roll)
    for r in assessment.results:
        if r.status is Status.FAIL:
            console.print(f"[bold red]{r.control.id}[/] {escape(r.control.title)}")
            for f in r.failures:
                console.print(
                    f"  {escape(f.finding.rule_id)} {escape(str(f.finding.location))}",
                    soft_wrap=True,
                    highlight=False,
                )
    counts = assessment.counts()
    console.print(
        f"score {_pct(score(assessment.results))}: "
        + ", ".join(f"{n} {s.value}" for s, n in counts.items())
    )


def render_scorecard(fmt: str, assessment: Assessment, kb: KnowledgeBase, when: datetime) -> str:
    if fmt == "html":
        from mlstix.benchmark._html import render_html

        return render_html(assessment, kb)
    if fmt == "oscal":
        from mlstix.benchmark.oscal import assessment_results

        return assessment_results(assessment, when).oscal_serialize_json(pretty=True) + "\n"
    if fmt == "table":
        buffer = io.StringIO()
        style = dict.fromkeys((s.value for s in Status), "none")
        print_scorecard(assessment, kb, Console(file=buffer, width=160, color_system=None), style)
        return buffer.getvalue()
    return RENDERERS[fmt](assessment, kb)


def export_benchmark(fmt: str, bench: Benchmark, kb: KnowledgeBase, level: int) -> str | bytes:
    from mlstix.kb.render.benchmark import control_table

    if fmt == "oscal-catalog":
        from mlstix.benchmark.oscal import catalog

        return catalog(bench, kb).oscal_serialize_json(pretty=True) + "\n"
    if fmt == "oscal-profile":
        from mlstix.benchmark.oscal import profile

        return profile(bench, level).oscal_serialize_json(pretty=True) + "\n"
    if fmt == "oscal-component":
        from mlstix.benchmark._catalog import rule_catalog
        from mlstix.benchmark._component import component_definition

        return component_definition(bench, rule_catalog()).oscal_serialize_json(pretty=True) + "\n"
    rows = control_table(bench, kb)
    if fmt == "csv":
        text = io.StringIO(newline="")
        csv.writer(text, lineterminator="\r\n").writerows(rows)
        return text.getvalue()
    from mlstix.kb.render.export import workbook

    released = datetime(*bench.info.released.timetuple()[:3], tzinfo=UTC)
    return workbook({"controls": rows}, released)
