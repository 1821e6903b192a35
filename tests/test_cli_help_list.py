"""``mlstix --help`` lists the commands from a table of their first help paragraphs (importing
none of them), and the list is what click renders from the commands themselves, at every
width; ``mlstix --help`` imports no sub-command."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from mlstix.cli import main


def _listed(width: int, loaded: bool) -> str:
    ctx = click.Context(main.cli, info_name="mlstix", terminal_width=width, max_content_width=width)
    formatter = ctx.make_formatter()
    if loaded:
        click.Group.format_commands(main.cli, ctx, formatter)  # each command's own help
    else:
        main.cli.format_commands(ctx, formatter)
    return formatter.getvalue()


@pytest.mark.parametrize("width", [30, 60, 80, 100, 160, 400])
def test_the_list_is_what_the_commands_help_renders(width: int) -> None:
    assert _listed(width, loaded=False) == _listed(width, loaded=True)


def test_every_command_has_its_summary() -> None:
    assert set(main._SUMMARIES) == set(main._COMMANDS)
    ctx = click.Context(main.cli)
    for name in main._COMMANDS:
        command = main.cli.get_command(ctx, name)
        assert command is not None and not command.hidden and not command.short_help
        assert command.help is not None
        first = command.help.strip().split("\n\n")[0]
        assert " ".join(first.split()) == " ".join(main._SUMMARIES[name].split()), name


def test_help_imports_no_sub_command() -> None:
    code = (
        "import sys, json\n"
        "sys.argv = ['mlstix', '--help']\n"
        "from mlstix.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mlstix.cli.') "
        "or m in ('rich', 'numpy', 'pydantic'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    assert "Commands:" in done.stdout
    # _process: what the mlstix process does around any command (start and end)
    assert json.loads(done.stdout.splitlines()[-1]) == ["mlstix.cli._process", "mlstix.cli.main"]
