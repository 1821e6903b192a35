"""The ``mlstix`` command: a click group whose sub-commands live one module per concern.

This is the only place that turns an :class:`~mlstix.errors.MlstixError` into a message and an
exit code (2 unless the error says otherwise); sub-commands raise, they do not exit.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.markup import escape

from mlstix import __version__
from mlstix.cli._console import err_console
from mlstix.errors import MlstixError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """A group that reports our errors in one consistent way."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlstixError as exc:
            err_console.print(f"[bold red]error:[/] {escape(exc.diagnostics())}", soft_wrap=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlstix")
def cli() -> None:
    """Security of ML models in the cloud: knowledge base, scanners, signing, TAXII."""


def _register() -> None:
    from mlstix.cli import demo, kb

    cli.add_command(kb.kb)
    cli.add_command(demo.demo)
    cli.add_command(__import__("mlstix.cli.scan", fromlist=["scan"]).scan)
    __import__("mlstix.cli.integrity", fromlist=["register"]).register(cli)
    __import__("mlstix.cli.taxii", fromlist=["register"]).register(cli)
    __import__("mlstix.cli.explore", fromlist=["register"]).register(cli)
    __import__("mlstix.cli.iac", fromlist=["register"]).register(cli)


_register()


def main() -> None:
    cli(prog_name="mlstix")
