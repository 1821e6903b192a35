"""STIX 2.1 findings: a report of sightings of KB vulnerabilities, valid under the strict
OASIS validator with references enforced."""

from __future__ import annotations

import json

from mlstix.findings.formats import render
from mlstix.findings.model import Report
from mlstix.kb.compile import IDENTITY_ID, TLP_CLEAR_ID
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.validate import validate_json


def _bundle(report: Report, kb: KnowledgeBase) -> dict:
    text = render("stix", report, kb)
    assert isinstance(text, str)
    return json.loads(text)


def test_validates_strict_with_refs_enforced(report: Report, kb: KnowledgeBase) -> None:
    problems = validate_json(_bundle(report, kb), strict=True)
    assert problems == []


def test_empty_report_validates(kb: KnowledgeBase) -> None:
    bundle = _bundle(Report.build("models", [], []), kb)
    assert validate_json(bundle, strict=True) == []
    assert [o for o in bundle["objects"] if o["type"] == "sighting"] == []


def test_sightings_of_kb_vulnerabilities(report: Report, kb: KnowledgeBase) -> None:
    objs = _bundle(report, kb)["objects"]
    by_id = {o["id"]: o for o in objs}
    sightings = [o for o in objs if o["type"] == "sighting"]
    assert len(sightings) == len(report.findings)
    vuln_ids = {kb.vulnerability(f.vulnerability).id for f in report.findings}
    assert {s["sighting_of_ref"] for s in sightings} == vuln_ids
    for vid in vuln_ids:  # the KB objects travel with the report
        assert by_id[vid]["type"] == "vulnerability"
    assert by_id[IDENTITY_ID]["name"] == "mlstix"
    assert TLP_CLEAR_ID in by_id
    for s in sightings:
        system = by_id[s["where_sighted_refs"][0]]
        assert system["type"] == "identity" and system["identity_class"] == "system"
        observed = by_id[s["observed_data_refs"][0]]
        files = [by_id[r] for r in observed["object_refs"]]
        assert files[0]["type"] == "file"
        assert files[0]["hashes"]["SHA-256"] in {"a" * 64, "b" * 64}
    report_obj = next(o for o in objs if o["type"] == "report")
    assert {s["id"] for s in sightings} <= set(report_obj["object_refs"])
    evil = next(s for s in sightings if "pickle-dangerous-import" in s["description"])
    assert "archive/data.pkl" in evil["description"]
