"""The benchmark as KB data: its shape, its links to the knowledge base and to every rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mlstix.benchmark._catalog import CatalogRule
from mlstix.errors import KbDataError
from mlstix.kb import _frameworks
from mlstix.kb.controls import Benchmark, Control, Platform, load_benchmark_from
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.load import data_dir, load_kb_from


def test_every_course_of_action_has_controls_numbered_in_order(
    bench: Benchmark, kb: KnowledgeBase
) -> None:
    assert 40 <= len(bench.controls) <= 70
    assert {s.course_of_action for s in bench.sections} == {c.key for c in kb.courses_of_action}
    for section in bench.sections:
        assert [c.id for c in section.controls] == [
            f"MLCS-{section.number}.{n}" for n in range(1, len(section.controls) + 1)
        ]
    assert {c.level for c in bench.controls} == {1, 2}


def test_every_automated_rule_belongs_to_a_control(
    bench: Benchmark, catalog: dict[str, CatalogRule]
) -> None:
    """Reads the live registries: a rule added to any scanner without a control fails here."""
    covered = {r for c in bench.controls for r in bench.rules_of(c, set(catalog))}
    missing = sorted(set(catalog) - covered)
    assert not missing, f"rules that belong to no benchmark control: {missing}"


def test_every_rule_a_control_names_exists(
    bench: Benchmark, catalog: dict[str, CatalogRule]
) -> None:
    unknown = sorted({r for c in bench.controls for r in c.audit.rules} - set(catalog))
    assert not unknown, f"controls name rules no scanner has: {unknown}"
    for c in bench.controls:
        for pattern in c.audit.rule_patterns:
            assert bench.rules_of(c, set(catalog)), f"{c.id}: {pattern} matches no rule"


def test_an_automated_control_only_claims_platforms_its_rules_or_manual_audit_cover(
    bench: Benchmark, catalog: dict[str, CatalogRule]
) -> None:
    for c in bench.controls:
        judged = {catalog[r].platform for r in bench.rules_of(c, set(catalog))}
        for p in c.platforms:
            assert p.value in judged or "any" in judged or p in c.audit.manual, (
                f"{c.id}: nothing audits {p.value}"
            )


def test_mappings_use_checked_identifiers(bench: Benchmark, kb: KnowledgeBase) -> None:
    atlas = {m.external_id for m in kb.mitre if m.external_id.startswith("AML.M")}
    for c in bench.controls:
        assert set(c.mappings.nist_800_53) <= set(_frameworks.NIST_800_53)
        assert set(c.mappings.ai_rmf) <= _frameworks.AI_RMF
        assert set(c.mappings.owasp_ml) <= set(_frameworks.OWASP_ML)
        assert set(c.mappings.atlas) <= atlas
    assert len(_frameworks.AI_RMF) == 72  # the AI RMF 1.0 core has 72 subcategories
    assert "MEASURE 2.7" in _frameworks.AI_RMF and "MEASURE 2.14" not in _frameworks.AI_RMF


def test_rule_patterns_are_explicit_prefixes(bench: Benchmark) -> None:
    control = bench.controls[0].model_copy(
        update={
            "audit": bench.controls[0].audit.model_copy(
                update={"rules": (), "rule_patterns": ("MLSTIX-AWS-SM-*",)}
            )
        }
    )
    known = {"MLSTIX-AWS-SM-001", "MLSTIX-AWS-SM-010", "MLSTIX-AWS-S3-001", "models/x"}
    assert bench.rules_of(control, known) == ("MLSTIX-AWS-SM-001", "MLSTIX-AWS-SM-010")
    with pytest.raises(ValueError, match="pattern"):
        Control.model_validate(
            {
                **bench.controls[0].model_dump(mode="json"),
                "audit": {"rule_patterns": ["MLSTIX-*-SM"]},
            }
        )


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(data_dir(), root)
    return root


def _edit(root: Path, name: str, edit: object) -> None:
    path = root / "benchmark" / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


_SIGNING = "implement-ml-model-signing-with-sigstore.yaml"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d["controls"][0].update(closes=["no-such-vuln"]),
            "no vulnerability 'no-such-vuln'",
        ),
        (lambda d: d["controls"][1].update(id="MLCS-1.7"), "expected MLCS-1.2"),
        (
            lambda d: d["controls"][0]["mappings"].update(nist_800_53=["SI-77"]),
            "not a checked NIST SP 800-53 Rev. 5 control: SI-77",
        ),
        (
            lambda d: d["controls"][0]["mappings"].update(ai_rmf=["MEASURE 2.14"]),
            "not a NIST AI RMF 1.0 subcategory",
        ),
        (
            lambda d: d["controls"][0]["mappings"].update(atlas=["AML.M0099"]),
            "AML.M0099 has no file in kb/data/mitre/",
        ),
        (lambda d: d["controls"][0]["remediation"].update(aws=[42]), "step 42 does not exist"),
        (lambda d: d["controls"][3]["audit"]["manual"].pop("gcp"), "audit.manual.gcp"),
        (lambda d: d["controls"][0].update(colour="red"), "controls.0.colour: unknown field"),
        (lambda d: d.update(course_of_action="deploy-ml-specific-access-controls"), "file name"),
    ],
    ids=["vuln", "numbering", "nist", "ai-rmf", "atlas", "step", "manual", "field", "file"],
)
def test_bad_benchmark_data_names_file_and_field(
    tmp_path: Path, edit: object, expected: str
) -> None:
    root = _copy(tmp_path)
    _edit(root, _SIGNING, edit)
    with pytest.raises(KbDataError) as info:
        load_benchmark_from(root / "benchmark", load_kb_from(root))
    text = str(info.value)
    assert f"benchmark/{_SIGNING}" in text
    assert expected in text.replace("[", ".").replace("]", "")


def test_a_course_of_action_without_controls_is_an_error(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "benchmark" / _SIGNING).unlink()
    with pytest.raises(KbDataError, match="every course of action has controls"):
        load_benchmark_from(root / "benchmark", load_kb_from(root))


def test_the_benchmark_folder_is_not_an_unknown_kb_folder(kb: KnowledgeBase) -> None:
    assert (data_dir() / "benchmark").is_dir()
    assert kb.courses_of_action  # loading the KB with the folder present works


def test_platform_selection(bench: Benchmark) -> None:
    k8s = list(bench.select(platform="kubernetes"))
    assert k8s and all(
        Platform.KUBERNETES in c.platforms or Platform.ANY in c.platforms for c in k8s
    )
    assert all(c.level == 1 for c in bench.select(level=1))


def test_rules_pass_on_is_checked() -> None:
    from pydantic import ValidationError

    from mlstix.kb.controls import Audit

    ok = Audit.model_validate(
        {"rules": ["MLSTIX-AWS-CT-001"], "manual": {"azure": "x"}, "rules_pass_on": ["aws"]}
    )
    assert ok.rules_pass_on is not None and [p.value for p in ok.rules_pass_on] == ["aws"]
    bad = [
        {"rules": ["MLSTIX-AWS-CT-001"], "manual": {"azure": "x"}, "rules_pass_on": ["aws"],
         "rules_can_pass": False},  # contradictory
        {"manual": {"azure": "x"}, "rules_pass_on": ["aws"]},  # no rules to pass it
        {"rules": ["MLSTIX-AWS-CT-001"], "manual": {"aws": "x"}, "rules_pass_on": ["aws"]},
    ]  # fmt: skip
    for data in bad:
        with pytest.raises(ValidationError):
            Audit.model_validate(data)
