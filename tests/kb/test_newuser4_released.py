"""A new user's damaged release records: one problem naming released.json, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.errors import KbDataError
from mlstix.kb._released import FILE_NAME, check_release

OID = "attack-pattern--023c1e52-ad3a-4991-9f0b-eef64fbfc503"
OBJ = {"id": OID, "type": "attack-pattern", "modified": "2025-10-14T17:11:05.515Z"}


@pytest.mark.parametrize("stamp", ["2025-10-14T17:11:05.515", "2025-10-14", "2025-10-14T17:11"])
def test_a_release_timestamp_without_a_time_zone_is_one_problem(stamp: str) -> None:
    release = {"format": 1, "release": "v1", "objects": {OID: {"modified": stamp}}}
    with pytest.raises(KbDataError) as caught:
        check_release(release, [OBJ], {OID: "mitre/AML.T0058.yaml"})
    assert FILE_NAME in caught.value.problems[0] and stamp in caught.value.problems[0]


def test_cli_names_the_copied_data_folder_for_a_damaged_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlstix.kb.load import data_dir

    folder = tmp_path / "data"
    shutil.copytree(data_dir(), folder)
    record = json.loads((folder / FILE_NAME).read_text(encoding="utf-8"))
    entry = next(iter(record["objects"].values()))
    entry["modified"] = entry["modified"].rstrip("Z")
    (folder / FILE_NAME).write_text(json.dumps(record), encoding="utf-8")
    monkeypatch.setenv("MLSTIX_KB_DATA", str(folder))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["kb", "build", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and FILE_NAME in result.output
    assert str(folder) in result.output  # the hint names the folder the user is editing
    assert not any(out.rglob("*"))  # nothing written


@pytest.mark.parametrize("label", ["v1\nv2", "v1\x1b[31m", "tab\there"])
def test_cli_refuses_a_release_label_with_control_characters(tmp_path: Path, label: str) -> None:
    result = CliRunner().invoke(
        cli, ["kb", "build", "--out", str(tmp_path / "out"), "--record-release", label]
    )
    assert result.exit_code == 2, result.output
    assert "--record-release" in result.output
    assert not (tmp_path / "out").exists()
