"""One vocabulary across every command: walks the whole click tree (every lazily loaded command)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from mlstix.cli import main


def _walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{path} {name} does not load"
            yield from _walk(sub, f"{path} {name}")


COMMANDS = dict(_walk(main.cli, "mlstix"))

# Commands of other work in progress that do not follow the vocabulary yet (issue 11, section 1):
# (test, command) -> what is owed. Non-strict xfail: a fixed command passes, then drop its line.
OWED: dict[tuple[str, str], str] = {}


def _owed(test: str, path: str) -> None:
    if (test, path) in OWED:
        pytest.xfail(OWED[(test, path)])


def _options(command: click.Command) -> list[click.Option]:
    return [
        p
        for p in command.params
        if isinstance(p, click.Option) and not p.hidden and "--help" not in p.opts
    ]


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_option_has_help(path: str) -> None:
    _owed("help", path)
    missing = [p.opts[0] for p in _options(COMMANDS[path]) if not (p.help or "").strip()]
    assert missing == [], f"{path}: options without help text"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_has_help(path: str) -> None:
    assert (COMMANDS[path].help or "").strip(), f"{path} has no help text"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_choices_are_case_insensitive(path: str) -> None:
    strict = [
        p.opts[0]
        for p in COMMANDS[path].params
        if isinstance(p.type, click.Choice) and p.type.case_sensitive
    ]
    assert strict == [], f"{path}: case-sensitive choices"


def _has(command: click.Command, opt: str) -> click.Option | None:
    return next((p for p in _options(command) if opt in p.opts), None)


SCANS = sorted(path for path, c in COMMANDS.items() if _has(c, "--fail-on"))
LISTS = sorted(path for path in COMMANDS if path.endswith(" list"))


def test_the_walk_finds_the_scans_and_lists() -> None:
    assert {"mlstix scan models", "mlstix scan iac"} <= set(SCANS)
    assert {"mlstix kb list", "mlstix rules list"} <= set(LISTS)


@pytest.mark.parametrize("path", SCANS)
def test_every_scan_documents_its_exit_codes_and_fail_on_none(path: str) -> None:
    _owed("exit", path)
    command = COMMANDS[path]
    text = " ".join((command.help or "").split())
    assert re.search(r"[Ee]xit( codes)?:? 0", text), f"{path}: no exit codes in its help"
    assert re.search(r"\b1\b", text) and re.search(r"\b2\b", text) and "--fail-on" in text
    fail_on = _has(command, "--fail-on")
    assert fail_on is not None and isinstance(fail_on.type, click.Choice)
    assert "none" in fail_on.type.choices


@pytest.mark.parametrize("path", LISTS)
def test_every_list_command_speaks_json(path: str) -> None:
    fmt = _has(COMMANDS[path], "--format")
    assert fmt is not None and isinstance(fmt.type, click.Choice)
    assert "json" in fmt.type.choices


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_parallelism_is_jobs_everywhere(path: str) -> None:
    if path == "mlstix serve":  # --workers there are server processes, not a work pool
        return
    _owed("jobs", path)
    option = _has(COMMANDS[path], "--workers")
    shown = option is not None and "--workers" not in getattr(option, "hidden_aliases", ())
    assert not shown, f"{path}: --workers is shown; use -j/--jobs (--workers hidden alias)"


@pytest.mark.parametrize(
    ("args", "shown", "hidden"),
    [
        (["sign", "--help"], "--exclude", "--ignore-path"),
        (["verify", "--help"], "--exclude", "--ignore-path"),
        (["scan", "iac", "--help"], "--exclude", "--ignore-path"),
        (["sign", "--help"], "--jobs", "--workers"),
        (["verify", "--help"], "--jobs", "--workers"),
        (["scan", "models", "--help"], "--jobs", "--workers"),
        (["scan", "iac", "--help"], "--jobs", "--workers"),
    ],
)
def test_old_names_are_hidden_aliases(args: list[str], shown: str, hidden: str) -> None:
    result = CliRunner().invoke(main.cli, args, terminal_width=200)
    assert result.exit_code == 0
    assert shown in result.output
    assert hidden not in result.output


def test_hidden_aliases_still_work(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n')
    (folder / "skip.tf").write_text("this is { not terraform\n")
    for alias in ("--ignore-path", "--exclude"):
        args = ["scan", "iac", str(folder), alias, "skip.tf", "--workers", "1", "--format", "JSON"]
        result = CliRunner().invoke(main.cli, args)
        assert result.exit_code == 0, result.output
        assert "skip.tf" not in result.stdout


def test_fail_on_none_exits_0_on_findings(repo_root: object) -> None:
    from pathlib import Path

    iac = Path(str(repo_root)) / "examples" / "iac"
    failing = CliRunner().invoke(main.cli, ["scan", "iac", str(iac), "--format", "json"])
    assert failing.exit_code == 1
    passing = CliRunner().invoke(
        main.cli, ["scan", "iac", str(iac), "--format", "json", "--fail-on", "NONE"]
    )
    assert passing.exit_code == 0, passing.output


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "iac", "nope-{n}"],
        ["scan", "models", "nope-{n}"],
        ["sign", "nope-{n}", "--private-key", __file__],
        ["verify", "nope-{n}", "--public-key", __file__],
        ["verify", __file__, "--public-key", "nope-{n}"],
        ["bom", "nope-{n}"],
        ["kb", "validate", "nope-{n}"],
        ["navigator", "--report", "nope-{n}"],
    ],
)
def test_one_wording_for_a_missing_path(args: list[str]) -> None:
    missing = "/nonexistent/mlstix-missing"
    result = CliRunner().invoke(main.cli, [a.format(n=0).replace("nope-0", missing) for a in args])
    assert result.exit_code == 2
    assert f"error: {missing}: no such file or directory" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "whole"),
    [
        (["kb", "list"], "implement-ml-model-signing-with-sigstore"),
        (["rules", "list"], "MLSTIX-AWS-ECR-001"),
    ],
)
def test_lists_fit_80_columns_without_cutting_identifiers(args: list[str], whole: str) -> None:
    result = CliRunner().invoke(main.cli, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert any(whole in line for line in lines)
    assert "…" not in result.output


def test_scan_models_exclude_leaves_paths_out(repo_root: object) -> None:
    from pathlib import Path

    models = Path(str(repo_root)) / "examples" / "models"
    args = ["scan", "models", str(models), "-j", "1", "--format", "json"]
    everything = CliRunner().invoke(main.cli, args)
    assert everything.exit_code == 1  # the planted payloads are critical
    excluded = CliRunner().invoke(main.cli, [*args, "--exclude", "malicious/*"])
    assert excluded.exit_code == 0, excluded.output
    assert "malicious" not in excluded.stdout
