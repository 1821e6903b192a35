"""Microsoft's SARIF multitool (``validate --rule-kind "Gh;Sarif"``) on our SARIF: no errors and no
warnings, for the rules GitHub code scanning enforces (GH*) and SARIF's own (SARIF*).

The multitool is the npm package ``@microsoft/sarif-multitool`` (a self-contained .NET binary per
platform), installed by ``make test-deps`` into ``.cache/npm``; ``MLSTIX_SARIF_MULTITOOL`` may
name the binary instead. Without it these tests skip and say how to get it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.findings.formats import render
from mlstix.findings.model import Report
from mlstix.kb.graph import KnowledgeBase

REPO = Path(__file__).resolve().parents[2]
_PACKAGE = REPO / ".cache/npm/node_modules/@microsoft"
_BINARIES = ("sarif-multitool-linux/Sarif.Multitool", "sarif-multitool-darwin/Sarif.Multitool")


def _multitool() -> str | None:
    named = os.environ.get("MLSTIX_SARIF_MULTITOOL")
    if named:
        return named  # set but wrong must fail, not skip
    for rel in _BINARIES:
        exe = _PACKAGE / rel
        if exe.is_file():
            if not os.access(exe, os.X_OK):
                exe.chmod(0o755)  # npm may skip the package's chmod postinstall script
            return str(exe)
    return None


MULTITOOL = _multitool()
pytestmark = pytest.mark.skipif(
    MULTITOOL is None,
    reason="no SARIF multitool: run `make test-deps` (npm install of @microsoft/sarif-multitool "
    "into .cache/npm) or set MLSTIX_SARIF_MULTITOOL",
)


def _complaints(sarif: Path, tmp_path: Path) -> list[str]:
    assert MULTITOOL is not None
    out = tmp_path / f"{sarif.stem}.validation.sarif"
    done = subprocess.run(
        [MULTITOOL, "validate", "--rule-kind", "Gh;Sarif", "--output", str(out), str(sarif)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "DOTNET_CLI_TELEMETRY_OPTOUT": "1"},
    )
    assert out.is_file(), done.stdout + done.stderr
    results = json.loads(out.read_text(encoding="utf-8-sig"))["runs"][0]["results"]
    return [
        f"{r['ruleId']} {r.get('level', 'warning')}: {r['message']}"
        for r in results
        if r.get("level", "warning") in ("error", "warning")
    ]


def test_model_findings_report(report: Report, kb: KnowledgeBase, tmp_path: Path) -> None:
    sarif = tmp_path / "models.sarif"
    text = render("sarif", report, kb)
    assert isinstance(text, str)
    sarif.write_text(text)
    assert _complaints(sarif, tmp_path) == []


@pytest.mark.parametrize("folder", ["iac", "models"])
def test_scans_of_absolute_paths(
    folder: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan of absolute paths from another working folder: URIs stay relative (to the
    checkout, through originalUriBaseIds), as the multitool and GitHub want."""
    monkeypatch.chdir(tmp_path)
    sarif = tmp_path / f"{folder}.sarif"
    args = ["scan", folder, str(REPO / "examples" / folder), "-j", "1", "--format", "sarif"]
    result = CliRunner().invoke(cli, [*args, "-o", str(sarif)])
    assert result.exit_code in (0, 1), result.output
    run = json.loads(sarif.read_text())["runs"][0]
    assert run["results"]
    scanned = (REPO / "examples" / folder).as_uri() + "/"
    for res in run["results"]:
        location = res["locations"][0]["physicalLocation"]["artifactLocation"]
        assert "://" not in location["uri"] and not location["uri"].startswith("/")
        base = run["originalUriBaseIds"][location["uriBaseId"]]["uri"]
        assert (base + location["uri"]).startswith(scanned)  # resolves to the scanned file
    assert _complaints(sarif, tmp_path) == []
