"""The assessment as OSCAL assessment-results (see :mod:`mlstix.benchmark.oscal`)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, time

from trestle.oscal import assessment_results as ar
from trestle.oscal import common

from mlstix import __version__
from mlstix.benchmark._oscal_common import catalog_resource, control_id, metadata, prop, uuid5
from mlstix.benchmark.assess import Assessment, ControlResult, Status

__all__ = ["assessment_results"]


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
    return uuid5(
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
            uuid=uuid5("subject", where),
            description=f"Scanned by mlstix: {where}",
            props=[prop("location", where)],
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
            uuid=uuid5(seed, "observation", cid, str(index), where, failure.finding.rule_id),
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
                prop("rule-id", failure.finding.rule_id),
                prop("severity", failure.finding.severity.value),
                prop("report", failure.report),
            ],
            collected=when,
        )
    if r.status is Status.PASS and r.rules:
        judged = [rule for rule in r.rules if rule not in r.rules_idle]
        idle = f" {', '.join(r.rules_idle)} had nothing to judge." if r.rules_idle else ""
        yield common.Observation(
            uuid=uuid5(seed, "observation", cid, "pass"),
            title=f"{r.control.id}: its rules found nothing",
            description=f"The rules {', '.join(judged)} judged the inputs and found nothing.{idle}",
            methods=["TEST"],
            collected=when,
        )
    att = r.attestation
    if att is not None and r.attested:
        yield common.Observation(
            uuid=uuid5(seed, "observation", cid, "attestation", att.by, att.date.isoformat()),
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
        uuid=uuid5(seed, "finding", cid),
        title=f"{r.control.id} {r.control.title}",
        description=r.reason,
        props=[prop("status", r.status.value)],
        target=common.FindingTarget(
            type=common.FindingTargetTypeValidValues.objective_id,
            target_id=f"{cid}_obj",
            status=common.ObjectiveStatus(
                state=_status_state(r.status),
                reason=_reason(r.status),
                remarks=None if r.status in (Status.PASS, Status.FAIL) else _remark(r),
            ),
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

    applicable = [r for r in assessment.results if _in_scope(r)]
    left_out = [r for r in assessment.results if not _in_scope(r)]
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
        uuid=uuid5(seed, "assessment-plan"),
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
        if _in_scope(r):
            findings.append(_finding(seed, r, obs))
    scope = f"level {assessment.level}" if assessment.level else "all levels"
    scope += f", {assessment.platform or 'all platforms'}"
    plan = _plan(assessment, seed, scope)
    result = ar.Result(
        uuid=uuid5(seed, "result"),
        title=f"{bench.info.title} {bench.info.version} assessment ({scope})",
        description=f"Controls decided from {len(assessment.reports)} mlstix report(s).",
        start=when,
        end=when,
        props=[prop("report", name) for name in assessment.reports] or None,
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
        metadata=metadata(bench, f"{bench.info.title}: assessment results", when),
        import_ap=ar.ImportAp(href=f"#{plan.uuid}"),
        results=[result],
        back_matter=common.BackMatter(resources=[plan, catalog_resource(bench)]),
    )


def _in_scope(r: ControlResult) -> bool:
    """In the assessment's scope: every control but those not applicable by their platforms or
    by attestation. A control not applicable because its rules found nothing to judge in the
    inputs stays in scope: the inputs, not the control, made it so, and OSCAL's objective status
    has no "not applicable", so it is reported not satisfied with a remark saying why."""
    return r.status is not Status.NOT_APPLICABLE or r.nothing_judged


def _remark(r: ControlResult) -> str:
    if r.nothing_judged:
        return f"Not applicable to the inputs, not shown satisfied: {r.reason}."
    return f"{r.status.value.capitalize()}, not shown satisfied: {r.reason}."


def _reason(status: Status) -> str:
    return {Status.PASS: "pass", Status.FAIL: "fail"}.get(status, "other")
