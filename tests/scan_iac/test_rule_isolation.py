"""A rule that raises on some input costs that input only: an errors entry naming the file and
the rule, the other inputs judged, and the rule left out of ``rules_run`` (so no benchmark
control it decides can pass on this report)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.scan.rules.iac import Context, Hit, default_registry

FIXTURES = Path(__file__).parent / "fixtures"
RULE = "MLSTIX-AWS-SM-005"


@pytest.fixture
def broken_rule(monkeypatch: pytest.MonkeyPatch) -> str:
    """SM-005's logic, made to fail on any scope holding a file under ``bad/``."""
    registry = default_registry()
    name = registry.get(RULE).logic
    assert name, "SM-005 is a Python rule"
    real = registry.logic[name]

    def flaky(ctx: Context) -> Iterable[Hit]:
        if any("/bad/" in r.file for r in ctx.resources):
            raise KeyError("spec")
        return real(ctx)

    monkeypatch.setitem(registry.logic, name, flaky)
    return name


def test_a_failing_rule_is_an_error_entry_for_its_input_and_the_rest_is_judged(
    tmp_path: Path, broken_rule: str
) -> None:
    shutil.copytree(FIXTURES / RULE / "terraform", tmp_path / "good")
    shutil.copytree(FIXTURES / RULE / "terraform", tmp_path / "bad")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["scan", "iac", str(tmp_path), "--format", "json", "-o", str(out)]
    )
    assert result.exit_code == 2, result.output  # some input could not be judged
    assert "Traceback" not in result.output
    report = json.loads(out.read_text())
    (error,) = report["errors"]
    assert error["path"].endswith("bad/main.tf")
    assert RULE in error["message"] and "KeyError" in error["message"]
    paths = {f["location"]["path"] for f in report["findings"] if f["rule_id"] == RULE}
    assert paths and all(p.endswith("good/main.tf") for p in paths)
    assert RULE not in report["rules_run"]
    assert "MLSTIX-AWS-SM-006" in report["rules_run"]  # the other rules ran everywhere
    bad_findings = [f for f in report["findings"] if "/bad/" in f["location"]["path"]]
    assert {f["rule_id"] for f in bad_findings} - {RULE}  # bad/ judged by the other rules


def test_without_the_defect_the_rule_runs_everywhere(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / RULE / "terraform", tmp_path / "bad")
    result = CliRunner().invoke(cli, ["scan", "iac", str(tmp_path), "--format", "json"])
    report = json.loads(result.output[result.output.index("{") :])
    assert report["errors"] == [] and RULE in report["rules_run"]
    assert any(f["rule_id"] == RULE for f in report["findings"])
