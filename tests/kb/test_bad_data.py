"""Bad authored data fails the build with a message naming the file and the field, a non-zero
exit, and no file written."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.errors import KbDataError
from mlstix.kb.load import data_dir, load_kb_from

AP = "attack-patterns/ml-model-tampering.yaml"
VULN = "vulnerabilities/unsigned-ml-models.yaml"
COA = "courses-of-action/implement-ml-model-signing-with-sigstore.yaml"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(data_dir(), copy)
    return copy


def _edit(path: Path, fn: Callable[[str], str]) -> None:
    path.write_text(fn(path.read_text(encoding="utf-8")), encoding="utf-8")


def _first_line(text: str, prefix: str) -> str:
    match = re.search(rf"^{re.escape(prefix)}.*$", text, flags=re.M)
    assert match, prefix
    return match.group(0)


CASES: dict[str, tuple[str, Callable[[str], str], str]] = {
    "yaml-syntax": (AP, lambda t: t.replace("name: ", "name: [unclosed ", 1), "YAML syntax"),
    "unknown-field": (AP, lambda t: t + "\nseverity: high\n", "field severity: unknown field"),
    "duplicate-field-in-file": (AP, lambda t: t + "\nname: Again\n", "duplicate field 'name'"),
    "bad-category": (
        AP,
        lambda t: t.replace(_first_line(t, "category:"), "category: nonsense", 1),
        "field category",
    ),
    "unknown-edge-target": (
        AP,
        lambda t: re.sub(r"target: unsigned-ml-models", "target: no-such-thing", t, count=1),
        "field targets[0].target: unknown key 'no-such-thing'",
    ),
    "bad-id": (
        COA,
        lambda t: t.replace(_first_line(t, "id: course-of-action--"), "id: course-of-action--1", 1),
        "field id:",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_data_names_file_and_field(data: Path, case: str) -> None:
    rel, edit, expected = CASES[case]
    _edit(data / rel, edit)
    with pytest.raises(KbDataError) as info:
        load_kb_from(data)
    text = str(info.value)
    assert rel in text
    assert expected in text


def test_missing_field_is_named(data: Path) -> None:
    path = data / VULN
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [ln for ln in lines if not ln.startswith("modified:")]
    path.write_text("".join(kept), encoding="utf-8")
    with pytest.raises(KbDataError, match=rf"{re.escape(VULN)}: field modified: missing field"):
        load_kb_from(data)


def test_duplicate_key_across_files(data: Path) -> None:
    shutil.copy(data / AP, data / "attack-patterns" / "copy.yaml")
    with pytest.raises(KbDataError) as info:
        load_kb_from(data)
    text = str(info.value)
    assert "attack-patterns/copy.yaml: file name must be ml-model-tampering.yaml" in text
    assert "duplicate key 'ml-model-tampering'" in text


def test_duplicate_stix_id_across_files(data: Path) -> None:
    ap_text = (data / AP).read_text(encoding="utf-8")
    ap_id = re.search(r"^id: (attack-pattern--\S+)$", ap_text, flags=re.M)
    assert ap_id
    other = data / "attack-patterns" / "ml-model-injection.yaml"
    _edit(
        other,
        lambda t: re.sub(
            r"^id: attack-pattern--\S+$", f"id: {ap_id.group(1)}", t, count=1, flags=re.M
        ),
    )
    with pytest.raises(KbDataError, match="also used in attack-patterns/ml-model-"):
        load_kb_from(data)


def test_hole_in_graph_is_reported(data: Path) -> None:
    (data / "courses-of-action" / "implement-ml-model-runtime-security.yaml").unlink()
    with pytest.raises(KbDataError) as info:
        load_kb_from(data)
    # the only course of action that mitigates framework exploitation
    assert "attack-patterns/ml-framework-exploitation.yaml: no course of action mitigates" in str(
        info.value
    )


def test_cli_build_fails_and_writes_nothing(data: Path, tmp_path: Path) -> None:
    _edit(data / AP, lambda t: t + "\nunexpected: 1\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["kb", "build", "--out", str(out)], env={"MLSTIX_KB_DATA": str(data)}
    )
    assert result.exit_code == 2
    assert f"{AP}: field unexpected: unknown field" in result.output
    assert not out.exists() or not any(out.rglob("*"))
