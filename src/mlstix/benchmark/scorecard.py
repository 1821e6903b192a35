"""The scorecard of an assessment: per control, per course of action, per vulnerability, per level.

The score of a group is ``pass / (controls in the group that apply)``: a control that failed,
was not assessed or still waits for a manual review counts against it; not-applicable controls
are left out. Renderings: :func:`to_json` (stable, for machines), :func:`to_markdown`, and the
HTML page of :mod:`mlstix.benchmark._html`; the terminal table lives in the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mlstix import __version__
from mlstix.benchmark.assess import Assessment, ControlResult, Status
from mlstix.kb.graph import KnowledgeBase

__all__ = ["Group", "groups", "score", "to_json", "to_markdown"]


@dataclass(frozen=True)
class Group:
    key: str
    title: str
    results: tuple[ControlResult, ...]

    @property
    def counts(self) -> dict[Status, int]:
        out = dict.fromkeys(Status, 0)
        for r in self.results:
            out[r.status] += 1
        return out

    @property
    def score(self) -> float | None:
        return score(self.results)


def score(results: Iterable[ControlResult]) -> float | None:
    """Share of applicable controls that pass, or None when none applies."""
    applicable = [r for r in results if r.status is not Status.NOT_APPLICABLE]
    if not applicable:
        return None
    return sum(r.status is Status.PASS for r in applicable) / len(applicable)


def groups(assessment: Assessment, kb: KnowledgeBase) -> dict[str, list[Group]]:
    """The rollups: ``course_of_action``, ``vulnerability`` and ``level``."""
    bench = assessment.benchmark
    by_coa: dict[str, list[ControlResult]] = {}
    by_vuln: dict[str, list[ControlResult]] = {}
    by_level: dict[int, list[ControlResult]] = {}
    for r in assessment.results:
        for key in bench.courses_of_action(r.control):
            by_coa.setdefault(key, []).append(r)
        for key in r.control.closes:
            by_vuln.setdefault(key, []).append(r)
        by_level.setdefault(r.control.level, []).append(r)
    coa_order = [s.course_of_action for s in bench.sections]
    return {
        "course_of_action": [
            Group(k, kb.course_of_action(k).name, tuple(by_coa[k]))
            for k in coa_order
            if k in by_coa
        ],
        "vulnerability": [
            Group(k, kb.vulnerability(k).name, tuple(v)) for k, v in sorted(by_vuln.items())
        ],
        "level": [Group(str(k), f"Level {k}", tuple(v)) for k, v in sorted(by_level.items())],
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value * 100)}%"


def _result_json(r: ControlResult) -> dict[str, Any]:
    att = r.attestation
    return {
        "id": r.control.id,
        "title": r.control.title,
        "level": r.control.level,
        "platforms": [p.value for p in r.control.platforms],
        "status": r.status.value,
        "reason": r.reason,
        "rules": list(r.rules),
        "rules_not_run": list(r.rules_not_run),
        "rules_not_applicable": list(r.rules_idle),  # ran, but had nothing to judge
        "attestation": None
        if att is None
        else {
            "result": att.result.value,
            "by": att.by,
            "date": att.date.isoformat(),
            "evidence": att.evidence,
            "note": att.note,
        },
        "failures": [
            {
                "report": f.report,
                "rule_id": f.finding.rule_id,
                "severity": f.finding.severity.value,
                "location": f.finding.location.to_json(),
                "message": f.finding.message,
            }
            for f in r.failures
        ],
    }


def _group_json(g: Group) -> dict[str, Any]:
    return {
        "key": g.key,
        "title": g.title,
        "counts": {s.value: n for s, n in g.counts.items()},
        "score": None if g.score is None else round(g.score, 4),
        "controls": [r.control.id for r in g.results],
    }


def to_json(assessment: Assessment, kb: KnowledgeBase) -> str:
    info = assessment.benchmark.info
    rollups = groups(assessment, kb)
    data = {
        "tool": {"name": "mlstix", "version": __version__},
        "benchmark": {"id": info.id, "title": info.title, "version": info.version},
        "level": assessment.level,
        "platform": assessment.platform,
        "reports": list(assessment.reports),
        "summary": {
            "counts": {s.value: n for s, n in assessment.counts().items()},
            "score": None
            if score(assessment.results) is None
            else round(score(assessment.results) or 0.0, 4),
        },
        "controls": [_result_json(r) for r in assessment.results],
        "by_course_of_action": [_group_json(g) for g in rollups["course_of_action"]],
        "by_vulnerability": [_group_json(g) for g in rollups["vulnerability"]],
        "by_level": [_group_json(g) for g in rollups["level"]],
        "notes": list(assessment.notes),
    }
    return _lines(data)


def _lines(data: dict[str, Any]) -> str:
    """JSON with one top-level key per line and one list item per line: readable, and encoded by
    the C accelerator of :mod:`json` (``indent=`` would make 100k failures take ~20 s)."""
    out = ["{"]
    for index, (key, value) in enumerate(data.items()):
        comma = "," if index < len(data) - 1 else ""
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {json.dumps(v, ensure_ascii=False)}" for v in value)
            out.append(f'  "{key}": [\n{items}\n  ]{comma}')
        else:
            out.append(f'  "{key}": {json.dumps(value, ensure_ascii=False)}{comma}')
    out.append("}")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    """A table cell: no pipes or line breaks, Markdown-active characters escaped."""
    out = " ".join(str(text).split())
    for ch in "\\|*_`<>[]":
        out = out.replace(ch, "\\" + ch)
    return out


def _group_table(title: str, rows: list[Group]) -> list[str]:
    head = "| " + " | ".join(["", "score", *(s.value for s in Status)]) + " |"
    lines = [f"## By {title}", "", head, "|" + "---|" * (len(Status) + 2)]
    for g in rows:
        cells = [_md(g.title), _pct(g.score), *(str(g.counts[s]) for s in Status)]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def to_markdown(assessment: Assessment, kb: KnowledgeBase) -> str:
    info = assessment.benchmark.info
    counts = assessment.counts()
    scope = [f"level {assessment.level}" if assessment.level else "all levels"]
    scope.append(assessment.platform or "all platforms")
    lines = [
        f"# {_md(info.title)} {info.version}: scorecard",
        "",
        f"Scope: {', '.join(scope)}. Reports: "
        + (", ".join(f"`{_md(n)}`" for n in assessment.reports) or "none")
        + ".",
        "",
        f"**Score {_pct(score(assessment.results))}** — "
        + ", ".join(f"{n} {s.value}" for s, n in counts.items()),
        "",
        "| control | level | status | title | why |",
        "|---|---|---|---|---|",
    ]
    for r in assessment.results:
        lines.append(
            f"| {r.control.id} | {r.control.level} | **{r.status.value}** | "
            f"{_md(r.control.title)} | {_md(r.reason)} |"
        )
    lines.append("")
    rollups = groups(assessment, kb)
    lines += _group_table("course of action", rollups["course_of_action"])
    lines += _group_table("vulnerability", rollups["vulnerability"])
    lines += _group_table("level", rollups["level"])
    failed = [r for r in assessment.results if r.status is Status.FAIL]
    if failed:
        lines += ["## Failing resources", ""]
        for r in failed:
            lines.append(f"### {r.control.id} {_md(r.control.title)}")
            lines.append("")
            lines += [
                f"- `{_md(f.finding.rule_id)}` {f.finding.severity.value}: "
                f"{_md(str(f.finding.location))} — {_md(f.finding.message)}"
                for f in r.failures
            ]
            lines.append("")
    if assessment.notes:
        lines += ["## Notes", "", *(f"- {_md(n)}" for n in assessment.notes), ""]
    return "\n".join(lines)


RENDERERS: dict[str, Callable[[Assessment, KnowledgeBase], str]] = {
    "json": to_json,
    "markdown": to_markdown,
}
