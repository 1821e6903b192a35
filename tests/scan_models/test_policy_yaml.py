"""``scan models --policy`` with YAML that parses as text but not as values: one line naming
the file, line and column, exit 2, no report."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ignore_paths: []\nreviewed: 2026-02-30\n",
         "line 2, column 11: '2026-02-30' is not a valid timestamp"),
        ("allow_imports: !!int abc\n", "line 1, column 16: 'abc' is not a valid int"),
        ("severity: {a: [\n", "line 2, column 1:"),
    ],
)  # fmt: skip
def test_policy_values_yaml_cannot_build_are_one_line(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "m.pkl").write_bytes(b"\x80\x04N.")
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["scan", "models", str(tmp_path / "m.pkl"), "--policy", str(policy), "-o", str(out)]
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(policy) in lines[0] and says in lines[0], result.output
    assert "Traceback" not in result.output
    assert not out.exists()
