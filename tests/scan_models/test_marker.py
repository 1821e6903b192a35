"""Never unpickle, import or execute: payloads that would create a marker file if anything ran
them are planted in every pickle-bearing format; the scan reports them and no marker appears."""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

from click.testing import CliRunner

from mlstix.cli.main import cli

from . import builders as b
from .conftest import Scan


def _plant(tmp: Path, marker: Path) -> dict[str, str]:
    payload = b.marker_payload(marker)
    exec_payload = b.exec_payload(marker)
    files = {
        "raw.pkl": payload,
        "exec.pickle": exec_payload,
        "torch.pt": b.torch_zip(payload, top="anything"),
        "renamed.bin": b.torch_zip(payload),
        "no_extension": b.torch_zip(payload),
        "object.npy": b.npy("|O", (1,), payload),
        "compressed.joblib": gzip.compress(payload),
        "legacy.pth": b"".join(
            [
                b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.",  # the legacy magic number
                b"\x80\x02M\xe9\x03.",
                b"\x80\x02}q\x00.",
                payload,
            ]
        ),
    }
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    return files


def test_planted_payloads_are_found_and_never_run(tmp_path: Path, scan: Scan) -> None:
    marker = tmp_path.parent / f"{tmp_path.name}-MARKER"
    models = tmp_path / "models"
    models.mkdir()
    files = _plant(models, marker)
    report = scan(models)
    flagged = {
        Path(f.location.path).name
        for f in report.findings
        if f.rule_id == "models/pickle-dangerous-import"
    }
    assert flagged == set(files)
    assert not marker.exists()
    assert "os" not in sys.modules or sys.modules["os"] is os  # nothing re-imported


def test_cli_scan_of_payloads_never_runs_them(tmp_path: Path) -> None:
    marker = tmp_path.parent / f"{tmp_path.name}-CLI-MARKER"
    _plant(tmp_path, marker)
    result = CliRunner().invoke(
        cli, ["scan", "models", str(tmp_path), "--format", "json", "--jobs", "2"]
    )
    assert result.exit_code == 1, result.output
    assert not marker.exists()
