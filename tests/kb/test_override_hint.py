"""A knowledge-base problem in a copy named by MLSTIX_KB_DATA is blamed on that copy, not on
the packaged data folder the author did not touch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.kb.load import data_dir


def test_the_hint_names_the_folder_that_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "data"
    shutil.copytree(data_dir(), copy)
    broken = sorted((copy / "vulnerabilities").glob("*.yaml"))[0]
    broken.write_text(broken.read_text() + "oops: [\n")
    monkeypatch.setenv("MLSTIX_KB_DATA", str(copy))
    result = CliRunner().invoke(cli, ["kb", "check"])
    assert result.exit_code == 2
    assert f"vulnerabilities/{broken.name}: YAML syntax" in result.output
    assert f"hint: fix the authored YAML under {copy.resolve()}" in result.output
    assert "under src/mlstix/kb/data/ (" not in result.output
