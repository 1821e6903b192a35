"""Every ``mlstix`` command the README and the guides show names a command that exists, options
it has, and choice values it takes (``mlstix kb export --format xlsx`` without ``-o`` was shown
as a way to export, and is a usage error)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from mlstix.cli import main

REPO = Path(__file__).resolve().parents[1]
DOCS = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]
_FENCE = re.compile(r"```(?:sh|bash|console|shell)?\n(.*?)```", re.S)


def _blocks(text: str) -> list[str]:
    """The shell code blocks of a Markdown text (```sh, ```bash, ```console or unnamed), and
    its inline code spans that start with ``mlstix ``."""
    blocks: list[str] = []
    lines: list[str] = []
    inside = shell = False
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\w*)", line)
        if fence and not inside:
            inside, shell, lines = True, fence.group(1) in ("", "sh", "bash", "console"), []
        elif fence:
            if shell:
                blocks.append("\n".join(lines))
            inside = False
        elif inside:
            lines.append(line)
        else:
            blocks.extend(re.findall(r"`(mlstix [^`]+)`", line))
    return blocks


def _commands(doc: str) -> list[str]:
    text = (REPO / doc).read_text(encoding="utf-8")
    lines: list[str] = []
    for block in _blocks(text):
        joined = re.sub(r"\\\n\s*", " ", block)  # continuation lines
        for line in joined.splitlines():
            line = re.sub(r"\s+#.*$", "", line)  # a trailing comment
            for part in re.split(r"\|\||&&|[|;]", line):
                words = part.strip()
                found = re.search(r"(?:^|\s)(mlstix\s.*)$", words)
                if found and not words.startswith(("pip ", "git ")):
                    lines.append(re.split(r"\s[12]?>", found.group(1))[0].strip())
    return lines


def _resolve(argv: list[str]) -> tuple[click.Command, list[str], str]:
    command: click.Command = main.cli
    path = ["mlstix"]
    ctx = click.Context(main.cli)
    rest = argv[1:]
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            if rest[0] in ("logs",) or command.name != "detect":
                raise AssertionError(f"no command {' '.join([*path, rest[0]])!r}")
            break  # `mlstix detect LOG...` is `detect logs LOG...`
        command, path, rest = sub, [*path, rest[0]], rest[1:]
    return command, rest, " ".join(path)


CASES = [(doc, line) for doc in DOCS for line in _commands(doc)]


def test_the_docs_show_commands() -> None:
    assert len(CASES) > 80


@pytest.mark.parametrize(("doc", "line"), CASES, ids=[f"{d}: {c}" for d, c in CASES])
def test_a_documented_command_parses(doc: str, line: str) -> None:
    argv = shlex.split(line.replace("...", "x").replace("<", "").replace(">", ""))
    command, rest, name = _resolve(argv)
    if command.name == "detect" and isinstance(command, click.Group):
        command = command.get_command(click.Context(command), "logs")  # type: ignore[assignment]
    # get_params adds click's help option (--help/-h) to the command's own
    params = command.get_params(click.Context(command))
    options = {o: p for p in params if isinstance(p, click.Option) for o in p.opts}
    options.update({o: p for p in params if isinstance(p, click.Option) for o in p.secondary_opts})
    i = 0
    while i < len(rest):
        word = rest[i]
        i += 1
        if not word.startswith("-") or word == "-":
            continue
        flag, eq, value = word.partition("=")
        assert flag in options, f"{doc}: `{name}` has no option {flag} ({line})"
        param = options[flag]
        if param.is_flag or param.count:
            continue
        if not eq:
            assert i < len(rest), f"{doc}: {flag} needs a value ({line})"
            value, i = rest[i], i + 1
        if isinstance(param.type, click.Choice) and "$" not in value:
            choices = {str(c).lower() for c in param.type.choices}
            assert value.lower() in choices, f"{doc}: {flag} {value} is not a choice ({line})"
    if not rest:
        return  # the command named in prose ("`mlstix publish` sends ..."), not a run of it
    given = {options[w.partition("=")[0]].name for w in rest if w.partition("=")[0] in options}
    for required in command.params:
        if isinstance(required, click.Option) and required.required:
            assert required.name in given, f"{doc}: `{name}` needs {required.opts[0]} ({line})"
