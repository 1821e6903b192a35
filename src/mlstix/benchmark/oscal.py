"""The benchmark and its assessments in OSCAL 1.2 (NIST's Open Security Controls Assessment
Language), built and validated with compliance-trestle's models.

- :func:`catalog`: the benchmark as an OSCAL catalog, one group per course of action, one control
  per benchmark control. Parts: ``statement``, ``guidance`` (rationale), ``impact``,
  ``assessment-method`` (the rules that decide it and the manual procedure per platform) and
  ``remediation`` (the course of action's per-cloud steps the control points at). Framework
  mappings are properties in mlstix's namespace (``nist-sp-800-53-r5``, ``nist-ai-rmf``,
  ``owasp-ml-top-10``, ``mitre-atlas``, ``eu-ai-act``).
- :func:`profile`: a level profile (level 1 selects the level-1 controls; level 2 all of them)
  importing the catalog through a back-matter resource.
- :func:`assessment_results`: one OSCAL result per assessment: the reviewed controls (those out
  of scope, not applicable, in ``exclude-controls``: an objective's status is satisfied or
  not-satisfied, nothing else), an observation per failing resource (subject: an inventory item of
  the result's local definitions), per passing rule set and per attestation, and a finding per
  control in scope whose target is ``<control>_obj`` (``satisfied`` for pass, ``not-satisfied``
  for fail and, conservatively, for controls not assessed, waiting for a manual review or whose
  rules found nothing to judge in the inputs, which carry the ``mlstix`` ``status`` property and
  a ``remarks`` saying why). Built in :mod:`mlstix.benchmark._results`.
- The component definition of mlstix's rules: :mod:`mlstix.benchmark._component`.

Identifiers are UUIDv5 derived from stable names, and the catalog's timestamps are the
benchmark's release date, so the same benchmark exports byte-identical files; a document's own
uuid also derives from its content (OSCAL asks for a new one whenever the content changes), so an
edited control gives the catalog a new uuid. An assessment's uuids derive from the assessment
itself (time, scope, reports, decisions, attestations): the same assessment exports the same
uuids, and two assessments never share one; a scanned resource keeps its uuid across assessments.
"""

from __future__ import annotations

import hashlib

from trestle.oscal import catalog as cat
from trestle.oscal import common
from trestle.oscal import profile as prof

from mlstix.benchmark._oscal_common import (
    CATALOG_HREF,
    NS,
    catalog_resource,
    control_id,
    metadata,
    prop,
    released,
    uuid5,
)
from mlstix.benchmark._results import assessment_results
from mlstix.kb.controls import Benchmark, Control, remediation_steps
from mlstix.kb.graph import KnowledgeBase

__all__ = ["CATALOG_HREF", "NS", "assessment_results", "catalog", "control_id", "profile"]


def _mappings(control: Control) -> list[common.Property]:
    m = control.mappings
    named = [
        ("nist-sp-800-53-r5", m.nist_800_53),
        ("nist-ai-rmf", m.ai_rmf),
        ("owasp-ml-top-10", m.owasp_ml),
        ("mitre-atlas", m.atlas),
        ("eu-ai-act", m.eu_ai_act),
    ]
    return [prop(name, value) for name, values in named for value in values]


def _remediation(bench: Benchmark, control: Control, kb: KnowledgeBase) -> str:
    lines = []
    for step in remediation_steps(bench, control, kb):
        if step.step:
            coa = kb.course_of_action(step.course_of_action).name
            lines.append(f"- {step.platform}, {coa} step {step.step}: {step.text}")
        else:
            lines.append(f"- {step.text}")
    return "\n".join(lines)


def _audit(control: Control) -> str:
    lines = []
    if control.audit.automated:
        rules = [*control.audit.rules, *control.audit.rule_patterns]
        line = f"Automated: decided by the mlstix rules {', '.join(rules)}."
        if not control.audit.rules_can_pass:
            line += " Their findings fail it; a pass needs the manual audit, attested."
        elif control.audit.rules_pass_on:
            only = ", ".join(p.value for p in control.audit.rules_pass_on)
            line += f" A clean run passes it on {only} only; elsewhere the manual audit decides."
        lines.append(line)
    for platform, text in control.audit.manual.items():
        lines.append(f"Manual ({platform.value}): {' '.join(text.split())}")
    return "\n\n".join(lines)


def _control(bench: Benchmark, control: Control, kb: KnowledgeBase) -> cat.Control:
    cid = control_id(control)
    props = [
        prop("label", control.id, ours=False),
        prop("sort-id", f"mlcs-{control.number[0]:02d}.{control.number[1]:02d}", ours=False),
        prop("level", str(control.level)),
        *(prop("platform", p.value) for p in control.platforms),
        *(prop("vulnerability", k) for k in control.closes),
        *(prop("course-of-action", k) for k in bench.courses_of_action(control)),
        *_mappings(control),
    ]
    parts = [
        common.Part(id=f"{cid}_smt", name="statement", prose=" ".join(control.statement.split())),
        common.Part(id=f"{cid}_gdn", name="guidance", prose=" ".join(control.rationale.split())),
        common.Part(
            id=f"{cid}_imp",
            name="impact",
            ns=NS,
            prose=" ".join(control.impact.split()),
        ),
        common.Part(id=f"{cid}_asm", name="assessment-method", prose=_audit(control)),
        common.Part(
            id=f"{cid}_obj",
            name="assessment-objective",
            prose=f"Determine if: {' '.join(control.statement.split())}",
        ),
    ]
    remediation = _remediation(bench, control, kb)
    if remediation:
        parts.append(common.Part(id=f"{cid}_rem", name="remediation", ns=NS, prose=remediation))
    return cat.Control(id=cid, class_="mlcs", title=control.title, props=props, parts=parts)


def catalog(bench: Benchmark, kb: KnowledgeBase) -> cat.Catalog:
    groups: list[cat.Group] = []
    for section in bench.sections:
        coa = kb.course_of_action(section.course_of_action)
        groups.append(
            cat.Group2(
                id=f"mlcs-{section.number}",
                class_="course-of-action",
                title=coa.name,
                props=[
                    prop("label", f"MLCS-{section.number}", ours=False),
                    prop("course-of-action", coa.key),
                ],
                parts=[common.Part(name="overview", prose=" ".join(coa.summary.split()))],
                controls=[_control(bench, c, kb) for c in section.controls],
            )
        )
    # OSCAL: a document's uuid changes with its content; derived from the content, it does
    content = hashlib.sha256()
    for group in groups:
        content.update(group.oscal_serialize_json().encode())
    return cat.Catalog(
        uuid=uuid5("catalog", bench.info.id, bench.info.version, content.hexdigest()),
        metadata=metadata(bench, bench.info.title, released(bench)),
        groups=groups,
    )


def profile(bench: Benchmark, level: int) -> prof.Profile:
    """The level-``level`` profile: the controls every ML workload (1) or regulated, high-value
    models (2) must meet."""
    resource = catalog_resource(bench)
    ids = [control_id(c) for c in bench.select(level=level)]
    imp = prof.Import2(
        href=f"#{resource.uuid}", include_controls=[prof.SelectControl(with_ids=ids)]
    )
    return prof.Profile(
        uuid=uuid5("profile", bench.info.id, bench.info.version, str(level), *ids),
        metadata=metadata(bench, f"{bench.info.title}: Level {level} profile", released(bench)),
        imports=[imp],
        merge=prof.Merge2(as_is=prof.BooleanDatatype(True)),
        back_matter=common.BackMatter(resources=[resource]),
    )
