"""A build refuses an object changed since the recorded release without a later ``modified``:
a STIX consumer keeps one version per id and modified, so the change would never reach it."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.errors import KbDataError
from mlstix.kb._released import FILE_NAME
from mlstix.kb.build import record_release, render_tree
from mlstix.kb.load import _cache, data_dir, load_kb_from

ECR_RULE = "sigma/aws/aws-sagemaker-model-image-outside-ecr.yml"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the data folder with a release recorded from its current state."""
    folder = tmp_path / "data"
    shutil.copytree(data_dir(), folder)
    record_release(load_kb_from(folder), "test release", data=folder)
    return folder


def _build(folder: Path) -> dict[str, str]:
    _cache.pop(folder.resolve(), None)
    return render_tree(load_kb_from(folder), data=folder)


def _problems(folder: Path) -> list[str]:
    with pytest.raises(KbDataError) as caught:
        _build(folder)
    return list(caught.value.problems)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _attack_pattern(folder: Path) -> tuple[Path, str]:
    path = sorted((folder / "attack-patterns").glob("*.yaml"))[0]
    stamp = re.search(r"^modified: (\S+)$", path.read_text(encoding="utf-8"), re.M)
    assert stamp is not None
    return path, stamp.group(1)


def test_the_committed_data_matches_its_release() -> None:
    record = json.loads((data_dir() / FILE_NAME).read_text(encoding="utf-8"))
    assert record["format"] == 1 and len(record["objects"]) > 300
    render_tree(load_kb_from(data_dir()), data=data_dir())  # raises when a bump is missing


def test_an_unchanged_copy_builds(copy: Path) -> None:
    assert "stix/bundle.json" in _build(copy)


def test_a_rule_changed_without_a_later_modified_is_refused(copy: Path) -> None:
    _edit(copy / ECR_RULE, "level: high", "level: critical")
    problems = _problems(copy)
    assert len(problems) == 1
    assert problems[0].startswith(f"{ECR_RULE}: indicator--bf3e8bdb-")
    assert "content changed since release test release" in problems[0]
    assert "set a later modified" in problems[0]


def test_a_rule_with_a_later_exact_modified_builds(copy: Path) -> None:
    _edit(copy / ECR_RULE, "level: high", "level: critical")
    _edit(copy / ECR_RULE, "  modified: 2026-12-01T21:00:00Z", "  modified: 2026-12-01T22:30:00Z")
    bundle = json.loads(_build(copy)["stix/indicators.json"])
    indicator = next(o for o in bundle["objects"] if o["id"].startswith("indicator--bf3e8bdb-"))
    assert indicator["modified"] == "2026-12-01T22:30:00.000Z"


def test_an_exact_modified_off_the_rule_date_is_refused(copy: Path) -> None:
    _edit(copy / ECR_RULE, "  modified: 2026-12-01T21:00:00Z", "  modified: 2026-12-02T01:00:00Z")
    _cache.pop(copy.resolve(), None)
    with pytest.raises(KbDataError) as caught:
        load_kb_from(copy)
    assert any(
        p.startswith(f"{ECR_RULE}: field mlstix.modified:") and "2026-12-01" in p
        for p in caught.value.problems
    )


def test_an_attack_pattern_and_its_edges_follow_its_modified(copy: Path) -> None:
    path, stamp = _attack_pattern(copy)
    _edit(path, "\nsummary: ", "\nsummary: Changed. ")
    problems = _problems(copy)
    rel = f"attack-patterns/{path.name}"
    assert problems and all(p.startswith(f"{rel}: attack-pattern--") for p in problems)
    _edit(path, f"modified: {stamp}", "modified: 2027-01-05T00:00:00Z")
    assert "stix/bundle.json" in _build(copy)


def test_an_object_older_than_its_release_is_refused(copy: Path) -> None:
    path, _ = _attack_pattern(copy)
    oid = re.search(r"^id: (\S+)$", path.read_text(encoding="utf-8"), re.M)
    assert oid is not None
    record = json.loads((copy / FILE_NAME).read_text(encoding="utf-8"))
    record["objects"][oid.group(1)]["modified"] = "2030-01-01T00:00:00.000Z"
    (copy / FILE_NAME).write_text(json.dumps(record), encoding="utf-8")
    problems = _problems(copy)
    assert problems == [
        f"attack-patterns/{path.name}: {oid.group(1)}: modified "
        f"{_stamp(copy, oid.group(1))} is earlier than in release test release "
        "(2030-01-01T00:00:00.000Z)"
    ]


def _stamp(folder: Path, oid: str) -> str:
    _cache.pop(folder.resolve(), None)
    from mlstix.kb.compile import compile_kb

    compiled = compile_kb(load_kb_from(folder))
    for objects in compiled.bundles().values():
        for obj in objects:
            if obj["id"] == oid:
                return str(json.loads(obj.serialize())["modified"])
    raise AssertionError(oid)


def test_a_folder_without_a_release_is_not_checked(copy: Path) -> None:
    (copy / FILE_NAME).unlink()
    _edit(copy / ECR_RULE, "level: high", "level: critical")
    assert "stix/indicators.json" in _build(copy)


@pytest.mark.parametrize("text", ["", "{", "[]", '{"format": 9, "objects": {}}'])
def test_a_damaged_release_record_is_one_problem(copy: Path, text: str) -> None:
    (copy / FILE_NAME).write_text(text, encoding="utf-8")
    problems = _problems(copy)
    assert problems == [
        f"{FILE_NAME}: not a release record of format 1 (rewrite it with "
        "`mlstix kb build --record-release LABEL`)"
    ]


def test_cli_build_refuses_then_records_a_release(
    copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSTIX_KB_DATA", str(copy))
    out = tmp_path / "out"
    _edit(copy / ECR_RULE, "level: high", "level: critical")
    _cache.pop(copy.resolve(), None)
    refused = CliRunner().invoke(cli, ["kb", "build", "--out", str(out)])
    assert refused.exit_code == 2
    assert "set a later modified" in refused.output
    assert "Traceback" not in refused.output
    assert not (out / "stix").exists()  # nothing half-written

    (copy / FILE_NAME).unlink()
    _cache.pop(copy.resolve(), None)
    recorded = CliRunner().invoke(cli, ["kb", "build", "--out", str(out), "--record-release", "v9"])
    assert recorded.exit_code == 0, recorded.output
    assert json.loads((copy / FILE_NAME).read_text())["release"] == "v9"
    _cache.pop(copy.resolve(), None)
    again = CliRunner().invoke(cli, ["kb", "build", "--out", str(out)])
    assert again.exit_code == 0, again.output


def test_cli_refuses_an_empty_release_label(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["kb", "build", "--out", str(tmp_path), "--record-release", " "]
    )
    assert result.exit_code == 2
    assert "--record-release needs a non-empty label" in result.output
    assert not (tmp_path / "stix").exists()


def test_cli_refuses_to_record_into_a_folder_it_cannot_write(
    copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Said before anything is built: a failed record after the build wrote its files would
    leave a build the author did not mean to publish without its record."""
    monkeypatch.setenv("MLSTIX_KB_DATA", str(copy))
    real_access = os.access
    monkeypatch.setattr(
        "mlstix.cli.kb.os.access",
        lambda path, mode: False if Path(path) == copy else real_access(path, mode),
    )
    out = tmp_path / "out"
    before = (copy / FILE_NAME).read_bytes()
    result = CliRunner().invoke(cli, ["kb", "build", "--out", str(out), "--record-release", "v2"])
    assert result.exit_code == 2
    assert f"cannot record the release: the data folder {copy} is not writable" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    assert (copy / FILE_NAME).read_bytes() == before
