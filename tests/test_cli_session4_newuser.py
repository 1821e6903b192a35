"""A new user's hostile pass over the commands changed in session 4: wrong arguments get one line
and exit 2, quickly, with nothing written."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner

from mlstix.cli.main import cli


def test_scan_models_refuses_a_huge_job_count_as_the_other_commands_do(tmp_path: Path) -> None:
    # -j 1000000 forked a worker per batch of a 4,000-file folder: 45-68 s on two cores
    folder = tmp_path / "models"
    folder.mkdir()
    for i in range(50):
        (folder / f"{i}.pkl").write_bytes(b"\x80\x04N.")
    out = tmp_path / "report.json"
    started = time.monotonic()
    result = CliRunner().invoke(
        cli, ["scan", "models", str(folder), "-j", "1000000", "--format", "json", "-o", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "--jobs" in result.output and "1000000" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    assert time.monotonic() - started < 5


def test_the_remote_summary_share_has_no_exponent() -> None:
    from mlstix.cli._remote import _percent

    # "fetched 110 B of 110 B (1e+02%)" was printed after a first scan of small objects
    assert _percent(110, 110) == "100%"
    assert _percent(1, 3) == "33%"
    assert _percent(4, 100) == "4%"
    assert _percent(1, 1000) == "0.1%"
    assert _percent(0, 5) == "0%"
