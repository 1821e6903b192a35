"""Every Sigma rule of the knowledge base: valid for pySigma, convertible for the SIEMs, and right
on its own fixture (rules/<rule>.json): each true positive matches, each look-alike does not.

A differential test runs the same rules through pySigma's stock SQLite backend on SQLite, the
reference engine, and requires the same matches as our DuckDB adaptation.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mlstix.detect.logs import detect_logs
from mlstix.kb.load import load_kb
from tests.detect.logs.conftest import RULES, event, write_lines

RULE_NAMES = sorted(r.name for r in load_kb().detections.rules)


def _fixture(name: str) -> dict[str, list[dict[str, Any]]]:
    path = RULES / f"{name}.json"
    assert path.is_file(), f"rule {name} has no fixture {path.name}"
    data: dict[str, list[dict[str, Any]]] = json.loads(path.read_text())
    return data


def _rule(name: str) -> Any:
    return next(r for r in load_kb().detections.rules if r.name == name)


def test_every_attack_pattern_has_a_rule_or_a_reason(kb: Any) -> None:
    covered = {r.attack_pattern for r in kb.detections.rules}
    explained = {n.attack_pattern for n in kb.detections.no_rule}
    assert covered | explained == {ap.key for ap in kb.attack_patterns}
    assert not covered & explained
    assert len(kb.detections.rules) >= 20
    for note in kb.detections.no_rule:
        assert "deploy-ml-specific-monitoring-and-threat-detection" in note.reason


def test_fixtures_belong_to_rules() -> None:
    assert sorted(p.stem for p in RULES.glob("*.json")) == RULE_NAMES


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_metadata(name: str) -> None:
    rule = _rule(name)
    assert any(t.startswith("attack.t") for t in rule.tags), "no ATT&CK technique tag"
    assert any(t.startswith("atlas.aml.t") for t in rule.tags), "no ATLAS technique tag"
    assert rule.falsepositives and rule.level in ("low", "medium", "high", "critical")
    assert name.startswith(
        {"aws": "aws-", "azure": "azure-", "gcp": "gcp-", "kubernetes": "k8s-"}[rule.product]
    )


def test_pysigma_validators_pass() -> None:
    """pySigma's own validators, except the two that download MITRE data (ATT&CK and D3FEND tag
    checks); ATLAS is allowed as a tag namespace, and the escaped wildcards of the two rules that
    match a literal '*' in policy documents are intentional."""
    from sigma.collection import SigmaCollection
    from sigma.plugins import InstalledSigmaPlugins
    from sigma.validation import SigmaValidator
    from sigma.validators.core.tags import NamespaceTagValidator

    class WithAtlas(NamespaceTagValidator):  # type: ignore[misc]
        allowed_namespace: ClassVar[set[str]] = {*NamespaceTagValidator.allowed_namespace, "atlas"}

    plugins = InstalledSigmaPlugins.autodiscover()
    chosen = [
        WithAtlas if v is NamespaceTagValidator else v
        for n, v in plugins.validators.items()
        if n not in ("attacktag", "d3_fendtag")
    ]
    rules = load_kb().detections.rules
    collection = SigmaCollection.from_dicts([__import__("yaml").safe_load(r.text) for r in rules])
    assert len(collection.rules) == len(rules)
    assert not [r.errors for r in collection.rules if r.errors]
    issues = SigmaValidator(chosen).validate_rules(collection)
    intentional = {"aws-iam-ml-execution-role-granted-wildcard", "aws-s3-model-bucket-opened"}
    unexpected = [
        i
        for i in issues
        if not (
            type(i).__name__ == "EscapedWildcardIssue"
            and {str(r.title) for r in i.rules} <= {_rule(n).title for n in intentional}
        )
    ]
    assert not unexpected, "\n".join(str(i) for i in unexpected)


BACKENDS = {
    "splunk": ("sigma.backends.splunk", "SplunkBackend"),
    "lucene": ("sigma.backends.elasticsearch", "LuceneBackend"),
    "esql": ("sigma.backends.elasticsearch", "ESQLBackend"),
    "kusto": ("sigma.backends.kusto", "KustoBackend"),
}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_rules_convert_for_siems(backend: str) -> None:
    import importlib

    from sigma.collection import SigmaCollection

    module, cls = BACKENDS[backend]
    conv = getattr(importlib.import_module(module), cls)()
    for rule in load_kb().detections.rules:
        queries = conv.convert(SigmaCollection.from_yaml(rule.text))
        assert len(queries) == 1 and str(queries[0]).strip(), rule.name
        # the discriminating values survive conversion (not an empty or catch-all query)
        text = str(queries[0])
        assert any(word in text for word in ("eventName", "operationName", "methodName", "verb"))


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_on_its_fixture(name: str, tmp_path: Path, kb: Any) -> None:
    fixture = _fixture(name)
    assert fixture["match"] and fixture["nomatch"], "a true positive and a look-alike each"
    events = [event(name, c["event"]) for c in (*fixture["match"], *fixture["nomatch"])]
    path = write_lines(tmp_path / "events.jsonl", events)
    report = detect_logs(kb, [path], jobs=1)
    assert not report.errors, report.errors
    lines = sorted(f.location.line for f in report.findings if f.rule_id == name)
    expected = list(range(1, len(fixture["match"]) + 1))
    why = {i + 1: c["why"] for i, c in enumerate((*fixture["match"], *fixture["nomatch"]))}
    assert lines == expected, f"matched {[why[i] for i in lines]}"


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Columns of an event for the reference: every path, objects also as their JSON text, and a
    list of one element also under ``key{}`` (a rule's any-element field; with more elements the
    reference cannot say which one, so the column stays NULL: undecided)."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        if prefix:
            out[prefix[:-1]] = json.dumps(obj, separators=(",", ":"))
    elif isinstance(obj, list) and len(obj) == 1:
        out.update(_flatten(obj[0], f"{prefix[:-1]}{{}}."))
        out[prefix[:-1]] = json.dumps(obj, separators=(",", ":"))
    else:
        out[prefix[:-1]] = obj if type(obj) in (str, int, float) or obj is None else json.dumps(obj)
    return out


def _fields(items: Any) -> set[str]:
    """Every field a rule's detection names (a column even where no event has it)."""
    if isinstance(items, dict):
        items = list(items.values())
    out: set[str] = set()
    for item in items:
        if getattr(item, "field", None):
            out.add(item.field)
        out |= _fields(getattr(item, "detection_items", []))
    return out


@pytest.mark.parametrize("name", RULE_NAMES)
def test_same_matches_as_pysigma_sqlite_reference(name: str, tmp_path: Path, kb: Any) -> None:
    """pySigma's stock SQLite backend on SQLite, over the events flattened to columns, is the
    reference; our DuckDB evaluation must agree on every fixture event."""
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    fixture = _fixture(name)
    events = [event(name, c["event"]) for c in (*fixture["match"], *fixture["nomatch"])]
    rows = [_flatten(e) for e in events]
    sigma_rule = SigmaCollection.from_yaml(_rule(name).text).rules[0]
    columns = sorted({c for r in rows for c in r} | _fields(sigma_rule.detection.detections))
    db = sqlite3.connect(":memory:")
    # SQLite leaves REGEXP to the application; the reference uses Python's re (RE2, which DuckDB
    # uses, agrees with it on the constructs the rules use)
    db.create_function(
        "REGEXP", 2, lambda rx, v: None if v is None else re.search(rx, str(v)) is not None
    )
    # Sigma compares strings in any case: SQLite's '=' does so under NOCASE (its LIKE already does)
    db.execute(
        "CREATE TABLE logs (n INTEGER, " + ", ".join(f'"{c}" COLLATE NOCASE' for c in columns) + ")"
    )
    for n, row in enumerate(rows, 1):
        db.execute(
            f"INSERT INTO logs VALUES (?, {', '.join('?' for _ in columns)})",
            [n, *(row.get(c) for c in columns)],
        )
    (query,) = sqliteBackend().convert(SigmaCollection.from_yaml(_rule(name).text))
    where = str(query).split(" WHERE ", 1)[1]
    # SQL's NULL: where a missing field leaves the reference undecided, the fixture decides
    verdicts = dict(db.execute(f"SELECT n, ({where}) FROM logs").fetchall())
    decided = {n for n, v in verdicts.items() if v is not None}
    reference = sorted(n for n in decided if verdicts[n])
    assert decided, "the reference decided no event"

    path = write_lines(tmp_path / "events.jsonl", events)
    found = detect_logs(kb, [path], jobs=1).findings
    ours = sorted(
        f.location.line for f in found if f.rule_id == name and f.location.line in decided
    )
    assert ours == reference
