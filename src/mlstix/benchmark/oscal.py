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
  for fail and, conservatively, for controls not assessed or waiting for a manual review, which
  carry the ``mlstix`` ``status`` property).

Identifiers are UUIDv5 derived from stable names, and the catalog's timestamps are the
benchmark's release date, so the same benchmark exports byte-identical files; a document's own
uuid also derives from its content (OSCAL asks for a new one whenever the content changes), so an
edited control gives the catalog a new uuid. An assessment's
uuids derive from the assessment itself (time, scope, reports, decisions): the same assessment
exports the same uuids, and two assessments never share one; a scanned resource keeps its uuid
across assessments.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, time

from trestle.oscal import OSCAL_VERSION, common
from trestle.oscal import assessment_results as ar
from trestle.oscal import catalog as cat
from trestle.oscal import profile as prof

from mlstix import __version__
from mlstix.benchmark.assess import Assessment, ControlResult, Status
from mlstix.kb.controls import Benchmark, Control, remediation_steps
from mlstix.kb.graph import KnowledgeBase

__all__ = ["NS", "assessment_results", "catalog", "control_id", "profile"]

NS = "https://github.com/mlstix/mlstix/ns/oscal"
_UUID_NS = uuid.UUID("3b0f6a53-54c4-4c43-9d55-6f0b8a0b2a11")
CATALOG_HREF = "mlcs-catalog.json"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_UUID_NS, "\x1f".join(parts)))


def control_id(control: Control) -> str:
    """The OSCAL id of a control: its id in lower case (``MLCS-3.2`` -> ``mlcs-3.2``)."""
    return control.id.lower()


def _prop(name: str, value: str, *, ours: bool = True) -> common.Property:
    return common.Property(name=name, value=value, ns=NS if ours else None)


def _released(bench: Benchmark) -> datetime:
    return datetime.combine(bench.info.released, time(0, 0), tzinfo=UTC)


def _metadata(bench: Benchmark, title: str, when: datetime) -> common.Metadata:
    return common.Metadata(
        title=title,
        last_modified=when,
        published=_released(bench),
        version=bench.info.version,
        oscal_version=common.OscalVersion(OSCAL_VERSION),
        props=[_prop("generator", f"mlstix {__version__}")],
    )


def _mappings(control: Control) -> list[common.Property]:
    m = control.mappings
    named = [
        ("nist-sp-800-53-r5", m.nist_800_53),
        ("nist-ai-rmf", m.ai_rmf),
        ("owasp-ml-top-10", m.owasp_ml),
        ("mitre-atlas", m.atlas),
        ("eu-ai-act", m.eu_ai_act),
    ]
    return [_prop(name, value) for name, values in named for value in values]


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
        _prop("label", control.id, ours=False),
        _prop("sort-id", f"mlcs-{control.number[0]:02d}.{control.number[1]:02d}", ours=False),
        _prop("level", str(control.level)),
        *(_prop("platform", p.value) for p in control.platforms),
        *(_prop("vulnerability", k) for k in control.closes),
        *(_prop("course-of-action", k) for k in bench.courses_of_action(control)),
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
                    _prop("label", f"MLCS-{section.number}", ours=False),
                    _prop("course-of-action", coa.key),
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
        uuid=_uuid("catalog", bench.info.id, bench.info.version, content.hexdigest()),
        metadata=_metadata(bench, bench.info.title, _released(bench)),
        groups=groups,
    )


def _catalog_resource(bench: Benchmark) -> common.Resource:
    return common.Resource(
        uuid=_uuid("catalog-resource", bench.info.id, bench.info.version),
        title=f"{bench.info.title} {bench.info.version} (OSCAL catalog)",
        rlinks=[common.Rlink(href=CATALOG_HREF, media_type="application/oscal.catalog+json")],
    )


def profile(bench: Benchmark, level: int) -> prof.Profile:
    """The level-``level`` profile: the controls every ML workload (1) or regulated, high-value
    models (2) must meet."""
    resource = _catalog_resource(bench)
    ids = [control_id(c) for c in bench.select(level=level)]
    imp = prof.Import2(
        href=f"#{resource.uuid}", include_controls=[prof.SelectControl(with_ids=ids)]
    )
    return prof.Profile(
        uuid=_uuid("profile", bench.info.id, bench.info.version, str(level), *ids),
        metadata=_metadata(bench, f"{bench.info.title}: Level {level} profile", _released(bench)),
        imports=[imp],
        merge=prof.Merge2(as_is=prof.BooleanDatatype(True)),
        back_matter=common.BackMatter(resources=[resource]),
    )


def _status_state(status: Status) -> common.ObjectiveStatusStateValidValues:
    if status is Status.PASS:
        return common.ObjectiveStatusStateValidValues.satisfied
    return common.ObjectiveStatusStateValidValues.not_satisfied


def _seed(assessment: Assessment, when: datetime) -> str:
    """The identity of one assessment: its benchmark, time, scope, reports and what it decided.
    Every uuid of its assessment-results derives from it, so the same assessment exports the same
    uuids and two assessments (another time, scope, report or result) never share one."""
    bench = assessment.benchmark
    digest = hashlib.sha256()
    for r in assessment.results:
        digest.update(f"{r.control.id}\x1f{r.status.value}\x1f{r.reason}\x1e".encode())
        if r.attestation is not None:
            digest.update(r.attestation.model_dump_json().encode())
        for f in r.failures:
            digest.update(f"{f.report}\x1f{f.finding.rule_id}\x1f{f.finding.location}\x1e".encode())
    return _uuid(
        "assessment-results",
        bench.info.id,
        bench.info.version,
        when.isoformat(),
        str(assessment.level or ""),
        assessment.platform or "",
        *assessment.reports,
        digest.hexdigest(),
    )


def _subject(where: str, items: dict[str, common.InventoryItem]) -> common.InventoryItem:
    """The scanned file or cloud resource a finding is about, as an inventory item of the result's
    local definitions (an OSCAL subject of type ``inventory-item``). Its uuid depends only on
    where it is, so the same resource has the same uuid in every assessment."""
    item = items.get(where)
    if item is None:
        item = common.InventoryItem(
            uuid=_uuid("subject", where),
            description=f"Scanned by mlstix: {where}",
            props=[_prop("location", where)],
        )
        items[where] = item
    return item


def _observations(
    seed: str, r: ControlResult, when: datetime, items: dict[str, common.InventoryItem]
) -> Iterable[common.Observation]:
    cid = control_id(r.control)
    for index, failure in enumerate(r.failures):
        where = str(failure.finding.location)
        item = _subject(where, items)
        yield common.Observation(
            uuid=_uuid(seed, "observation", cid, str(index), where, failure.finding.rule_id),
            title=f"{failure.finding.rule_id} on {where}",
            description=" ".join(failure.finding.message.split()) or failure.finding.title,
            methods=["TEST"],
            types=["finding"],
            subjects=[
                common.SubjectReference(
                    subject_uuid=item.uuid,
                    type="inventory-item",
                    title=where,
                )
            ],
            props=[
                _prop("rule-id", failure.finding.rule_id),
                _prop("severity", failure.finding.severity.value),
                _prop("report", failure.report),
            ],
            collected=when,
        )
    if r.status is Status.PASS and r.rules:
        yield common.Observation(
            uuid=_uuid(seed, "observation", cid, "pass"),
            title=f"{r.control.id}: its rules found nothing",
            description=f"The rules {', '.join(r.rules)} ran and found nothing.",
            methods=["TEST"],
            collected=when,
        )
    att = r.attestation
    if att is not None and r.attested:
        yield common.Observation(
            uuid=_uuid(seed, "observation", cid, "attestation", att.by, att.date.isoformat()),
            title=f"{r.control.id} attested {att.result.value}",
            description=(
                f"Attested {att.result.value} by {att.by} on {att.date.isoformat()}"
                + (f": {' '.join(att.note.split())}" if att.note else "")
            ),
            methods=["EXAMINE"],
            relevant_evidence=[
                common.RelevantEvidence(
                    href=att.evidence if att.evidence.startswith(("https://", "http://")) else None,
                    description=att.evidence,
                )
            ],
            collected=datetime.combine(att.date, time(0, 0), tzinfo=UTC),
        )


def _finding(seed: str, r: ControlResult, obs: list[common.Observation]) -> common.Finding:
    cid = control_id(r.control)
    return common.Finding(
        uuid=_uuid(seed, "finding", cid),
        title=f"{r.control.id} {r.control.title}",
        description=r.reason,
        props=[_prop("status", r.status.value)],
        target=common.FindingTarget(
            type=common.FindingTargetTypeValidValues.objective_id,
            target_id=f"{cid}_obj",
            status=common.ObjectiveStatus(state=_status_state(r.status), reason=_reason(r.status)),
        ),
        related_observations=[common.RelatedObservation(observation_uuid=o.uuid) for o in obs]
        or None,
    )


def _reviewed(assessment: Assessment) -> common.ReviewedControls:
    """The controls in scope, and those left out as not applicable (another platform, or
    attested so): OSCAL's objective status is satisfied or not-satisfied, nothing else, so a
    control out of scope has no finding; it is named in ``exclude-controls``."""

    def ids(rs: Iterable[ControlResult]) -> list[common.SelectControlById] | None:
        out = [common.SelectControlById(control_id=control_id(r.control)) for r in rs]
        return out or None

    applicable = [r for r in assessment.results if r.status is not Status.NOT_APPLICABLE]
    left_out = [r for r in assessment.results if r.status is Status.NOT_APPLICABLE]
    return common.ReviewedControls(
        control_selections=[
            common.ControlSelections(
                description="Controls out of scope are not applicable: "
                + ("; ".join(f"{r.control.id}: {r.reason}" for r in left_out) or "none")
                + ".",
                include_controls=ids(applicable),
                exclude_controls=ids(left_out),
            )
        ]
    )


def _plan(assessment: Assessment, seed: str, scope: str) -> common.Resource:
    """What ``import-ap`` points at. mlstix writes no OSCAL assessment plan; the plan of this
    assessment is the run itself, carried as the resource's content (OSCAL wants a back-matter
    resource to hold an rlink or base64): benchmark, scope and the reports it read."""
    bench = assessment.benchmark
    lines = [
        f"mlstix {__version__} benchmark assess",
        f"benchmark: {bench.info.title} {bench.info.version} ({bench.info.id})",
        f"scope: {scope}",
        "reports:",
        *(f"  {name}" for name in assessment.reports),
    ]
    text = "\n".join(lines) + "\n"
    return common.Resource(
        uuid=_uuid(seed, "assessment-plan"),
        title="mlstix benchmark assess",
        description=(
            "No separate OSCAL assessment plan: the assessment ran `mlstix benchmark assess` "
            "over the reports listed in the result's props, as this resource records."
        ),
        base64=common.Base64(
            filename="mlstix-benchmark-assess.txt",
            media_type="text/plain",
            value=base64.b64encode(text.encode()).decode(),
        ),
    )


def assessment_results(assessment: Assessment, when: datetime) -> ar.AssessmentResults:
    """One OSCAL result for ``assessment`` run at ``when``: a finding per control in scope (its
    objective satisfied or not), observations with the failing resources as inventory items."""
    bench = assessment.benchmark
    seed = _seed(assessment, when)
    items: dict[str, common.InventoryItem] = {}
    observations: list[common.Observation] = []
    findings: list[common.Finding] = []
    for r in assessment.results:
        obs = list(_observations(seed, r, when, items))
        observations += obs
        if r.status is not Status.NOT_APPLICABLE:
            findings.append(_finding(seed, r, obs))
    scope = f"level {assessment.level}" if assessment.level else "all levels"
    scope += f", {assessment.platform or 'all platforms'}"
    plan = _plan(assessment, seed, scope)
    result = ar.Result(
        uuid=_uuid(seed, "result"),
        title=f"{bench.info.title} {bench.info.version} assessment ({scope})",
        description=f"Controls decided from {len(assessment.reports)} mlstix report(s).",
        start=when,
        end=when,
        props=[_prop("report", name) for name in assessment.reports] or None,
        local_definitions=ar.LocalDefinitions1(inventory_items=list(items.values()))
        if items
        else None,
        reviewed_controls=_reviewed(assessment),
        observations=observations or None,
        findings=findings or None,
        remarks="\n\n".join(assessment.notes) or None,  # old reports, unread inputs, expiries
    )
    return ar.AssessmentResults(
        uuid=seed,
        metadata=_metadata(bench, f"{bench.info.title}: assessment results", when),
        import_ap=ar.ImportAp(href=f"#{plan.uuid}"),
        results=[result],
        back_matter=common.BackMatter(resources=[plan, _catalog_resource(bench)]),
    )


def _reason(status: Status) -> str:
    return {Status.PASS: "pass", Status.FAIL: "fail"}.get(status, "other")
