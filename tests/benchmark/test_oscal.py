"""OSCAL outputs: valid against NIST's published schema, read back equal by trestle, and saying
what the benchmark and the assessment say."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mlstix.benchmark._catalog import CatalogRule
from mlstix.benchmark._reports import load_reports
from mlstix.benchmark.assess import assess
from mlstix.kb.controls import Benchmark
from mlstix.kb.graph import KnowledgeBase

from .conftest import WriteReport, finding

trestle_oscal = pytest.importorskip(
    "trestle.oscal", reason="compliance-trestle is not installed (pip install 'mlstix[benchmark]')"
)
jsonschema_rs = pytest.importorskip(
    "jsonschema_rs", reason="jsonschema-rs validates NIST's schema (its \\p{L} patterns)"
)
from trestle.oscal.assessment_results import AssessmentResults  # noqa: E402
from trestle.oscal.catalog import Catalog  # noqa: E402
from trestle.oscal.profile import Profile  # noqa: E402

from mlstix.benchmark import oscal  # noqa: E402

SCHEMA = Path(__file__).parent / "fixtures" / "oscal_complete_schema-1.2.3.json"
WHEN = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@cache
def _validator() -> Any:
    return jsonschema_rs.validator_for(json.loads(SCHEMA.read_text(encoding="utf-8")))


def _schema_errors(document: dict[str, Any]) -> list[str]:
    return [f"{list(e.instance_path)}: {e.message}" for e in _validator().iter_errors(document)]


def _round_trip(model: Any, cls: Any, tmp_path: Path, name: str) -> dict[str, Any]:
    """Write with trestle, validate the file against NIST's schema, read it back with trestle
    and compare; returns the written JSON."""
    path = tmp_path / name
    path.write_text(model.oscal_serialize_json(pretty=True), encoding="utf-8")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert _schema_errors(document) == []
    back = cls.oscal_read(path)
    assert back == model
    assert back.oscal_serialize_json(pretty=True) == model.oscal_serialize_json(pretty=True)
    return document


def test_the_schema_fixture_rejects_what_it_should() -> None:
    assert _schema_errors({"catalog": {"uuid": "not-a-uuid", "metadata": {}}})
    assert _schema_errors({"profile": {}})


def test_catalog_is_valid_complete_and_deterministic(
    bench: Benchmark, kb: KnowledgeBase, tmp_path: Path
) -> None:
    model = oscal.catalog(bench, kb)
    doc = _round_trip(model, Catalog, tmp_path, "catalog.json")["catalog"]
    controls = [c for g in doc["groups"] for c in g["controls"]]
    assert [c["id"] for c in controls] == [c.id.lower() for c in bench.controls]
    assert len(doc["groups"]) == len(kb.courses_of_action)
    first = {p["name"]: p["value"] for p in controls[0]["props"]}
    assert first["label"] == "MLCS-1.1" and first["level"] == "1"
    names = {p["name"] for c in controls for p in c["props"]}
    assert {"nist-sp-800-53-r5", "nist-ai-rmf", "mitre-atlas", "eu-ai-act"} <= names
    parts = {p["name"] for p in controls[0]["parts"]}
    assert {"statement", "guidance", "assessment-method", "remediation"} <= parts
    again = oscal.catalog(bench, kb).oscal_serialize_json(pretty=True)
    assert again == model.oscal_serialize_json(pretty=True)


@pytest.mark.parametrize("level", [1, 2])
def test_level_profiles(bench: Benchmark, tmp_path: Path, level: int) -> None:
    model = oscal.profile(bench, level)
    doc = _round_trip(model, Profile, tmp_path, f"profile-{level}.json")["profile"]
    ids = doc["imports"][0]["include-controls"][0]["with-ids"]
    assert ids == [c.id.lower() for c in bench.controls if c.level <= level]
    href = doc["imports"][0]["href"]
    resource = doc["back-matter"]["resources"][0]
    assert href == f"#{resource['uuid']}"
    assert resource["rlinks"][0]["href"] == oscal.CATALOG_HREF


def test_assessment_results_tie_findings_to_controls_and_subjects(
    bench: Benchmark,
    catalog: dict[str, CatalogRule],
    write_report: WriteReport,
    tmp_path: Path,
) -> None:
    path = write_report(
        [finding("MLSTIX-AWS-S3-001", "aws_s3_bucket.weights")],
        rules_run=[
            "MLSTIX-AWS-S3-001",
            "MLSTIX-GCP-GCS-002",
            "MLSTIX-AWS-ECR-001",
            "MLSTIX-K8S-SRV-014",
        ],
    )
    result = assess(bench, load_reports([path]), catalog)
    model = oscal.assessment_results(result, WHEN)
    doc = _round_trip(model, AssessmentResults, tmp_path, "ar.json")["assessment-results"]
    res = doc["results"][0]
    findings = {f["target"]["target-id"]: f for f in res["findings"]}
    assert len(findings) == len(bench.controls)
    failed = findings["mlcs-4.1_obj"]
    assert failed["target"]["status"]["state"] == "not-satisfied"
    observations = {o["uuid"]: o for o in res["observations"]}
    obs = [observations[r["observation-uuid"]] for r in failed["related-observations"]]
    items = {i["uuid"]: i for i in res["local-definitions"]["inventory-items"]}
    assert [o["subjects"][0]["type"] for o in obs] == ["inventory-item"]
    subject = items[obs[0]["subjects"][0]["subject-uuid"]]
    assert subject["props"] == [
        {"name": "location", "value": "main.tf:3 (aws_s3_bucket.weights)", "ns": oscal.NS}
    ]
    passed = findings["mlcs-4.4_obj"]
    assert passed["target"]["status"]["state"] == "satisfied"
    status = {f["target"]["target-id"]: {p["value"] for p in f["props"]} for f in findings.values()}
    assert status["mlcs-9.1_obj"] == {"manual"}
    assert doc["import-ap"]["href"].startswith("#")


def test_cli_exports(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from trestle.oscal.component import ComponentDefinition

    from mlstix.cli.main import cli

    runner = CliRunner()
    formats = (
        ("oscal-catalog", Catalog),
        ("oscal-profile", Profile),
        ("oscal-component", ComponentDefinition),
    )
    for fmt, cls in formats:
        out = tmp_path / f"{fmt}.json"
        result = runner.invoke(cli, ["benchmark", "export", "--format", fmt, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert _schema_errors(json.loads(out.read_text(encoding="utf-8"))) == []
        assert cls.oscal_read(out) is not None


@pytest.mark.parametrize("level", [1, 2])
def test_trestle_resolves_each_profile_against_the_catalog(
    bench: Benchmark,
    kb: KnowledgeBase,
    tmp_path: Path,
    level: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trestle.core.profile_resolver import ProfileResolver

    (tmp_path / ".trestle").mkdir()  # a trestle workspace: where it keeps its fetch cache
    monkeypatch.chdir(tmp_path)  # trestle resolves the relative catalog href from here
    (tmp_path / oscal.CATALOG_HREF).write_text(
        oscal.catalog(bench, kb).oscal_serialize_json(pretty=True), encoding="utf-8"
    )
    profile = tmp_path / f"profile-{level}.json"
    profile.write_text(oscal.profile(bench, level).oscal_serialize_json(), encoding="utf-8")
    resolved = ProfileResolver.get_resolved_profile_catalog(tmp_path, str(profile))
    ids = [c.id for g in resolved.groups or [] for c in getattr(g, "controls", None) or []]
    # trestle orders the resolved controls by id; the set is what the profile selects
    assert sorted(ids) == sorted(c.id.lower() for c in bench.controls if c.level <= level)
    assert len(ids) == len(set(ids))


def test_attestations_become_examine_observations(
    bench: Benchmark, catalog: dict[str, CatalogRule], tmp_path: Path
) -> None:
    from mlstix.benchmark._attest import Attestation

    att = Attestation.model_validate(
        {"control": "MLCS-8.2", "result": "pass", "by": "Ana Auditor", "date": "2026-11-20",
         "evidence": "https://tickets.example.com/SEC-7"}
    )  # fmt: skip
    result = assess(bench, [], catalog, attestations={"MLCS-8.2": att})
    doc = _round_trip(oscal.assessment_results(result, WHEN), AssessmentResults, tmp_path, "a.json")
    res = doc["assessment-results"]["results"][0]
    finding = next(f for f in res["findings"] if f["target"]["target-id"] == "mlcs-8.2_obj")
    assert finding["target"]["status"]["state"] == "satisfied"
    obs = next(
        o
        for o in res["observations"]
        if o["uuid"] == finding["related-observations"][0]["observation-uuid"]
    )
    assert obs["methods"] == ["EXAMINE"]
    assert obs["relevant-evidence"][0]["href"] == "https://tickets.example.com/SEC-7"
    assert "Ana Auditor" in obs["description"]
