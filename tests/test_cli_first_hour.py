"""A new user's first hour, second pass: conflicting options, wrong values and odd inputs each
give one ``error: ...`` line and the documented exit code, before any work is done and with no
output file left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main.cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "selection",
    [
        ["--rule", "MLSTIX-AWS-SM-001", "--skip-rule", "mlstix-aws-sm-001"],
        ["--rule", "MLSTIX-AWS-SM-001", "--cloud", "azure"],
    ],
)
def test_scan_iac_options_that_leave_no_rule_are_refused(
    tmp_path: Path, selection: list[str]
) -> None:
    """It ran no rule and said "no findings", exit 0: a gate that can never fail."""
    out = tmp_path / "report.json"
    code, output = _run(["scan", "iac", str(EXAMPLES / "iac"), *selection, "-o", str(out)])
    assert code == 2
    assert "error: --cloud, --rule and --skip-rule together leave no rule to run" in output
    assert not out.exists()


def test_scan_iac_rule_with_its_own_cloud_still_runs(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    args = ["scan", "iac", str(EXAMPLES / "iac"), "--rule", "MLSTIX-AWS-SM-001", "--cloud", "AWS"]
    code, _ = _run([*args, "-o", str(out), "--format", "json"])
    assert code in (0, 1)
    assert out.is_file()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("notaurl", "'notaurl' is not an http:// or https:// URL"),
        ("ftp://taxii.example.org/", "is not an http:// or https:// URL"),
        ("http://", "is not an http:// or https:// URL"),
        ("http://[::1", "is not a URL (Invalid IPv6 URL)"),
    ],
)
def test_scan_publish_url_is_checked_before_scanning(tmp_path: Path, url: str, said: str) -> None:
    """A bad --publish URL was found only after the scan had run and its report was written."""
    out = tmp_path / "report.json"
    code, output = _run(["scan", "iac", str(EXAMPLES / "iac"), "--publish", url, "-o", str(out)])
    assert code == 2
    assert "Invalid value for '--publish'" in output and said in output
    assert not out.exists()


def test_scan_publish_to_a_closed_port_names_publish_not_to(tmp_path: Path) -> None:
    """The hint said "check --to", an option of `mlstix publish` that `scan` does not have."""
    out = tmp_path / "report.json"
    url = "http://127.0.0.1:9/taxii2/"
    code, output = _run(["scan", "iac", str(EXAMPLES / "iac"), "--publish", url, "-o", str(out)])
    assert code == 2
    assert out.is_file()  # the report stands; only publishing failed
    assert "hint: the report was written; check --publish" in output
    assert "--to" not in output
