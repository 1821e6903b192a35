"""OSCAL as a compliance tool reads it: every assessment shape valid against NIST's schema and
read back equal by trestle, references resolving between and inside the documents, uuids
deterministic yet unique, props in our namespace, no empty arrays, metadata right."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlstix.benchmark._attest import Attestation
from mlstix.benchmark._catalog import CatalogRule
from mlstix.benchmark._reports import load_reports
from mlstix.benchmark.assess import Assessment, assess
from mlstix.kb.controls import Benchmark
from mlstix.kb.graph import KnowledgeBase

from .conftest import WriteReport, finding
from .test_oscal import _schema_errors

pytest.importorskip("trestle.oscal", reason="compliance-trestle is not installed")
from trestle.oscal import OSCAL_VERSION
from trestle.oscal.assessment_results import AssessmentResults

from mlstix.benchmark import oscal

WHEN = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# OSCAL's own prop names we use (oscal namespace, allowed on controls and groups)
_OSCAL_PROPS = {"label", "sort-id"}


def _attestations() -> dict[str, Attestation]:
    rows = [
        {"control": "MLCS-8.2", "result": "pass", "by": "Ana", "date": "2026-11-20",
         "evidence": "https://tickets.example.com/SEC-7"},
        {"control": "MLCS-9.1", "result": "not-applicable", "by": "Ana", "date": "2026-11-20",
         "evidence": "SEC-8: no model registry in this account"},
        {"control": "MLCS-5.1", "result": "fail", "by": "Bo", "date": "2026-11-21",
         "evidence": "SEC-9"},
    ]  # fmt: skip
    return {r["control"]: Attestation.model_validate(r) for r in rows}


def _assessments(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> dict[str, Assessment]:
    failing = write_report(
        [
            finding("MLSTIX-AWS-S3-001", "aws_s3_bucket.weights"),
            finding("MLSTIX-AWS-S3-001", "aws_s3_bucket.data"),
        ],
        rules_run=["MLSTIX-AWS-S3-001", "MLSTIX-AWS-ECR-001"],
    )
    reports = load_reports([failing])
    return {
        "all": assess(bench, reports, catalog, attestations=_attestations()),
        "gcp": assess(bench, reports, catalog, platform="gcp"),
        "aws-level-1": assess(bench, reports, catalog, level=1, platform="aws"),
        "kubernetes-attested": assess(
            bench, reports, catalog, platform="kubernetes", attestations=_attestations()
        ),
        "no-reports": assess(bench, [], catalog),
    }


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}/{i}")


def _uuids(doc: Any) -> list[str]:
    return [v for p, v in _walk(doc) if p.endswith("/uuid") and isinstance(v, str)]


def _check_common(doc: dict[str, Any]) -> None:
    assert _schema_errors(doc) == []
    assert [p for p, v in _walk(doc) if v in ([], {})] == []  # the schema forbids empty arrays
    for path, node in _walk(doc):
        if path.endswith("/props"):
            for prop in node:
                assert prop.get("ns") == oscal.NS or prop["name"] in _OSCAL_PROPS, (path, prop)
    (root,) = doc.values()
    assert root["metadata"]["oscal-version"] == OSCAL_VERSION
    assert root["metadata"]["published"] <= root["metadata"]["last-modified"]
    uuids = _uuids(doc)
    defined = [v for p, v in _walk(doc) if p.endswith("/uuid") and "subject-uuid" not in p]
    assert len(defined) == len(set(defined)), "a uuid defined twice in one document"
    assert uuids


def test_every_assessment_shape_is_valid_and_resolves(
    bench: Benchmark,
    catalog: dict[str, CatalogRule],
    kb: KnowledgeBase,
    write_report: WriteReport,
    tmp_path: Path,
) -> None:
    cat = json.loads(oscal.catalog(bench, kb).oscal_serialize_json())
    _check_common(cat)
    objectives = {
        p["id"]
        for _, part in _walk(cat)
        if isinstance(part, dict) and part.get("name") == "assessment-objective"
        for p in [part]
    }
    control_ids = {c["id"] for g in cat["catalog"]["groups"] for c in g["controls"]}
    for name, assessment in _assessments(bench, catalog, write_report).items():
        model = oscal.assessment_results(assessment, WHEN)
        path = tmp_path / f"{name}.json"
        path.write_text(model.oscal_serialize_json(pretty=True), encoding="utf-8")
        doc = json.loads(path.read_text(encoding="utf-8"))
        _check_common(doc)
        assert AssessmentResults.oscal_read(path) == model, name
        ar = doc["assessment-results"]
        res = ar["results"][0]
        resources = {r["uuid"]: r for r in ar["back-matter"]["resources"]}
        assert all("rlinks" in r or "base64" in r for r in resources.values())  # NIST constraint
        plan = resources[ar["import-ap"]["href"][1:]]
        run = base64.b64decode(plan["base64"]["value"]).decode()
        assert all(name in run for name in assessment.reports)
        # reviewed controls: in scope included, not applicable excluded, each exactly once
        (sel,) = res["reviewed-controls"]["control-selections"]
        included = [c["control-id"] for c in sel.get("include-controls", [])]
        excluded = [c["control-id"] for c in sel.get("exclude-controls", [])]
        expected_in = [oscal.control_id(r.control) for r in assessment.results
                       if r.status.value != "not-applicable"]  # fmt: skip
        assert included == expected_in, name
        assert sorted(included + excluded) == sorted(
            oscal.control_id(r.control) for r in assessment.results
        )
        assert set(included) | set(excluded) <= control_ids
        # one finding per control in scope, targeting its objective in the catalog
        findings = res.get("findings", [])
        assert [f["target"]["target-id"] for f in findings] == [f"{c}_obj" for c in included]
        assert {f["target"]["target-id"] for f in findings} <= objectives
        observations = {o["uuid"]: o for o in res.get("observations", [])}
        items = {i["uuid"] for i in res.get("local-definitions", {}).get("inventory-items", [])}
        for f in findings:
            for ref in f.get("related-observations", []):
                assert ref["observation-uuid"] in observations, (name, f["title"])
            status = next(p["value"] for p in f["props"] if p["name"] == "status")
            state = f["target"]["status"]["state"]
            assert state == ("satisfied" if status == "pass" else "not-satisfied"), f["title"]
        for o in observations.values():
            for s in o.get("subjects", []):
                assert s["type"] == "inventory-item" and s["subject-uuid"] in items


def test_assessment_uuids_are_deterministic_and_unique_across_assessments(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport
) -> None:
    shapes = _assessments(bench, catalog, write_report)
    again = _assessments(bench, catalog, write_report)
    seen: dict[str, str] = {}
    subjects: set[str] = set()
    for name, assessment in shapes.items():
        text = oscal.assessment_results(assessment, WHEN).oscal_serialize_json()
        # reports have other temp names on the second build, so compare shapes, not files
        assert text == oscal.assessment_results(assessment, WHEN).oscal_serialize_json()
        doc = json.loads(text)
        res = doc["assessment-results"]["results"][0]
        items = {i["uuid"] for i in res.get("local-definitions", {}).get("inventory-items", [])}
        subjects |= items
        resources = {r["uuid"] for r in doc["assessment-results"]["back-matter"]["resources"]}
        for u in set(_uuids(doc)) - items - resources:
            assert u not in seen, f"{name} reuses a uuid of {seen.get(u)}"
            seen[u] = name
    # the same assessment at another time is another document
    later = oscal.assessment_results(again["all"], datetime(2026, 12, 2, tzinfo=UTC))
    first = oscal.assessment_results(shapes["all"], WHEN)
    assert later.uuid != first.uuid
    assert {f.uuid for f in later.results[0].findings or []}.isdisjoint(
        f.uuid for f in first.results[0].findings or []
    )
    # a scanned resource keeps its uuid: the same two buckets in every assessment that failed them
    assert len(subjects) == 2


def test_catalog_metadata_and_profile_hrefs(bench: Benchmark, kb: KnowledgeBase) -> None:
    cat = json.loads(oscal.catalog(bench, kb).oscal_serialize_json())
    meta = cat["catalog"]["metadata"]
    assert meta["version"] == bench.info.version
    for level in (1, 2):
        prof = json.loads(oscal.profile(bench, level).oscal_serialize_json())
        _check_common(prof)
        res = prof["profile"]["back-matter"]["resources"][0]
        assert res["rlinks"][0]["href"] == oscal.CATALOG_HREF
        assert res["rlinks"][0]["media-type"] == "application/oscal.catalog+json"
        assert prof["profile"]["metadata"]["version"] == meta["version"]


def test_catalog_uuid_follows_its_content(bench: Benchmark, kb: KnowledgeBase) -> None:
    """Same content, same uuid; an edited control gives the catalog a new uuid (OSCAL: a
    document's uuid changes whenever its content does)."""
    first = oscal.catalog(bench, kb)
    assert oscal.catalog(bench, kb).uuid == first.uuid
    section = bench.sections[0]
    control = section.controls[0]
    edited_control = control.model_copy(update={"title": control.title + " (edited)"})
    edited_section = replace(section, controls=(edited_control, *section.controls[1:]))
    edited = replace(bench, sections=(edited_section, *bench.sections[1:]))
    assert oscal.catalog(edited, kb).uuid != first.uuid


def test_component_definition_names_the_rules_of_each_automated_control(
    bench: Benchmark, catalog: dict[str, CatalogRule], kb: KnowledgeBase, tmp_path: Path
) -> None:
    from trestle.oscal.component import ComponentDefinition

    from mlstix.benchmark._component import TRESTLE_NS, component_definition

    model = component_definition(bench, catalog)
    path = tmp_path / "component.json"
    path.write_text(model.oscal_serialize_json(pretty=True), encoding="utf-8")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert _schema_errors(doc) == []
    assert ComponentDefinition.oscal_read(path) == model
    assert (
        model.oscal_serialize_json() == component_definition(bench, catalog).oscal_serialize_json()
    )
    cd = doc["component-definition"]
    assert cd["metadata"]["oscal-version"] == OSCAL_VERSION
    (component,) = cd["components"]
    assert component["type"] == "validation"
    declared: dict[str, set[str]] = {}
    for p in component["props"]:
        declared.setdefault(p["remarks"], set()).add(p["name"])
        assert p["ns"] in (TRESTLE_NS, oscal.NS)
    assert all(
        {"Rule_Id", "Rule_Description", "Check_Id", "Check_Description"} <= names
        for names in declared.values()
    )
    rule_ids = {p["value"] for p in component["props"] if p["name"] == "Rule_Id"}
    (impl,) = component["control-implementations"]
    # the source is the catalog, through the back-matter resource the profiles import
    resource = next(r for r in cd["back-matter"]["resources"] if f"#{r['uuid']}" == impl["source"])
    assert resource["rlinks"][0]["href"] == oscal.CATALOG_HREF
    cat = json.loads(oscal.catalog(bench, kb).oscal_serialize_json())
    control_ids = {c["id"] for g in cat["catalog"]["groups"] for c in g["controls"]}
    requirements = {r["control-id"]: r for r in impl["implemented-requirements"]}
    assert set(requirements) <= control_ids
    automated = {oscal.control_id(c) for c in bench.controls if c.audit.automated}
    assert set(requirements) == automated
    for control in bench.controls:
        req = requirements.get(oscal.control_id(control))
        if req is None:
            continue
        named = [p["value"] for p in req["props"] if p["name"] == "Rule_Id"]
        assert named == list(bench.rules_of(control, set(catalog)))
        assert set(named) <= rule_ids  # every rule named is declared on the component
    assert {p["value"] for p in requirements["mlcs-1.3"]["props"]} >= {"false"}
    assert "aws" in {p["value"] for p in requirements["mlcs-9.6"]["props"]}
    defined = [u for p, u in _walk(doc) if p.endswith("/uuid")]
    assert len(defined) == len(set(defined))


def test_assessment_notes_reach_the_result_remarks(
    bench: Benchmark, catalog: dict[str, CatalogRule], write_report: WriteReport, tmp_path: Path
) -> None:
    """What the scorecard says beside the controls (a report that could not read an input, an
    old report) is in the OSCAL result too, and its controls are not-satisfied, not satisfied."""
    path = write_report(rules_run=list(catalog))
    data = json.loads(path.read_text(encoding="utf-8"))
    data["errors"] = [{"path": "models.tf", "message": "HCL syntax error at line 3"}]
    path.write_text(json.dumps(data), encoding="utf-8")
    model = oscal.assessment_results(assess(bench, load_reports([path]), catalog), WHEN)
    doc = json.loads(model.oscal_serialize_json())
    _check_common(doc)
    res = doc["assessment-results"]["results"][0]
    assert "models.tf: HCL syntax error" in res["remarks"]
    states = {f["target"]["status"]["state"] for f in res["findings"]}
    assert states == {"not-satisfied"}


def test_another_attester_is_another_assessment(
    bench: Benchmark, catalog: dict[str, CatalogRule]
) -> None:
    def by(who: str) -> str:
        att = Attestation.model_validate(
            {"control": "MLCS-8.2", "result": "pass", "by": who, "date": "2026-11-20",
             "evidence": "SEC-7"}
        )  # fmt: skip
        model = oscal.assessment_results(
            assess(bench, [], catalog, attestations={"MLCS-8.2": att}), WHEN
        )
        return str(model.uuid)

    assert by("Ana") == by("Ana")
    assert by("Ana") != by("Bo")


def test_catalog_assessment_method_says_where_rules_cannot_pass(
    bench: Benchmark, kb: KnowledgeBase
) -> None:
    doc = json.loads(oscal.catalog(bench, kb).oscal_serialize_json())
    method = {
        c["id"]: next(p["prose"] for p in c["parts"] if p["name"] == "assessment-method")
        for g in doc["catalog"]["groups"]
        for c in g["controls"]
    }
    assert "a pass needs the manual audit" in method["mlcs-1.3"]
    assert "passes it on aws only" in method["mlcs-9.6"]
    assert "manual audit" not in method["mlcs-4.1"].split("Manual")[0]
