"""The top-level command: lazy sub-commands and the one place errors become exit codes."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from mlstix.cli import main


def test_every_command_loads_and_lists() -> None:
    result = CliRunner().invoke(main.cli, ["--help"])
    assert result.exit_code == 0
    for name in main._COMMANDS:
        assert name in result.output


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main.cli, ["scna"])
    assert result.exit_code == 2
    assert "No such command 'scna'" in result.output


def test_missing_optional_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("needs-extra")
    def needs_extra() -> None:
        import mlstix_absent_dependency  # noqa: F401

    monkeypatch.setitem(main._EXTRAS, "mlstix_absent_dependency", "serve")
    monkeypatch.setitem(main._COMMANDS, "needs-extra", lambda: needs_extra)
    monkeypatch.setattr(main.cli, "commands", dict(main.cli.commands))
    result = CliRunner().invoke(main.cli, ["needs-extra"])
    assert result.exit_code == 2
    assert "needs the Python package 'mlstix_absent_dependency'" in result.output
    assert "pip install 'mlstix[serve]'" in result.output
    assert "Traceback" not in result.output


def test_other_import_errors_are_not_disguised(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("broken")
    def broken() -> None:
        import mlstix_not_an_extra  # noqa: F401

    monkeypatch.setitem(main._COMMANDS, "broken", lambda: broken)
    monkeypatch.setattr(main.cli, "commands", dict(main.cli.commands))
    result = CliRunner().invoke(main.cli, ["broken"])
    assert isinstance(result.exception, ModuleNotFoundError)


def test_an_unexpected_os_error_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("reads")
    def reads() -> None:
        """Read a file it may not read."""
        raise PermissionError(13, "Permission denied", "/etc/secret")

    monkeypatch.setitem(main._COMMANDS, "reads", lambda: reads)
    monkeypatch.setattr(main.cli, "commands", dict(main.cli.commands))
    result = CliRunner().invoke(main.cli, ["reads"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: /etc/secret: permission denied"


def test_choices_take_any_case() -> None:
    result = CliRunner().invoke(main.cli, ["kb", "graph", "--format", "DOT"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("digraph")
