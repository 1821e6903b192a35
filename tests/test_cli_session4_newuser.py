"""A new user's hostile pass over the commands changed in session 4: wrong arguments get one line
and exit 2, quickly, with nothing written."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
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


class _Trickle(io.RawIOBase):
    """Standard output under PYTHONUNBUFFERED=1 (Docker images, CI): a raw file, whose write
    may take only part of the data (a signal mid-write, a reader gone)."""

    def __init__(self) -> None:
        self.got = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data[:1000])
        self.got += chunk
        return len(chunk)


@pytest.mark.parametrize("data", ["é" * 6000, b"\x00\xff" * 6000])
def test_a_report_to_an_unbuffered_stdout_is_written_whole(
    monkeypatch: pytest.MonkeyPatch, data: str | bytes
) -> None:
    from mlstix._io import write_output

    raw = _Trickle()
    stdout = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)  # type: ignore[type-var]
    monkeypatch.setattr(sys, "stdout", stdout)
    write_output("-", data)
    assert bytes(raw.got) == (data.encode("utf-8") if isinstance(data, str) else data)


def test_a_closed_pipe_under_pythonunbuffered_exits_141_not_0(tmp_path: Path) -> None:
    # the report's first write took 72 KiB, the rest was dropped, and the scan said 0 (success)
    folder = tmp_path / "models"
    folder.mkdir()
    for i in range(400):
        (folder / f"{i:04d}.pkl").write_bytes(b"\x80\x04N.")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    mlstix = Path(sys.executable).parent / "mlstix"
    command = [str(mlstix), "scan", "models", str(folder), "-j", "1", "--format", "json"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100).startswith(b"{")
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141, err
    assert b"Traceback" not in err
