"""Parameter types and option classes shared by every command: one vocabulary, one wording.

- :class:`ExistingPath`: an input path that must exist. A missing one is always
  ``error: PATH: no such file or directory`` (exit 2), the wording of every command, rather than
  click's multi-line usage message.
- :class:`AliasedOption`: an option whose old names still work but are not shown in ``--help``
  (``--workers`` for ``-j/--jobs``, ``--ignore-path`` for ``--exclude``).
- :class:`UniformPath`: every ``click.Path`` of the command tree, with the same wording.
- :func:`missing_path`: the one error for a path that does not exist.
- :func:`utf8_names`: refuses a model holding a file name that is not UTF-8 (sign, verify).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import click

from mlstix.errors import UsageError

__all__ = ["AliasedOption", "ExistingPath", "UniformPath", "missing_path", "utf8_names"]


def missing_path(path: object) -> UsageError:
    """``PATH: no such file or directory``, the wording of every command."""
    return UsageError(f"{path}: no such file or directory")


class ExistingPath(click.ParamType[Path, Any]):
    """A path that must exist (a file, a folder, or either)."""

    name = "PATH"

    def __init__(self, *, file_okay: bool = True, dir_okay: bool = True) -> None:
        self.file_okay = file_okay
        self.dir_okay = dir_okay
        if not dir_okay:
            self.name = "FILE"
        elif not file_okay:
            self.name = "DIR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = value if isinstance(value, Path) else Path(str(value))
        if not path.exists() and not path.is_symlink():
            raise missing_path(path)
        if not self.dir_okay and path.is_dir():
            raise UsageError(f"{path}: is a folder, not a file")
        if not self.file_okay and not path.is_dir():
            raise UsageError(f"{path}: is not a folder")
        return path


class UniformPath(click.Path):
    """``click.Path`` with mlstix's one wording: ``PATH: no such file or directory`` for a
    missing path it must find, ``PATH: is a folder, not a file`` (or ``is not a folder``), one
    line and exit 2, instead of click's four-line usage message. ``mlstix.cli.main`` gives
    every ``click.Path`` of every command this class, so no command can forget it."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (str, os.PathLike)) and not (self.allow_dash and value == "-"):
            path = os.fspath(value)
            try:
                st: os.stat_result | None = Path(path).stat()
            except OSError as exc:
                if self.exists:  # missing, a dangling link, a link loop, no permission
                    reason = (exc.strerror or type(exc).__name__).lower()
                    raise UsageError(f"{path}: {reason}") from None
                st = None
            if st is not None and stat.S_ISDIR(st.st_mode) and not self.dir_okay:
                raise UsageError(f"{path}: is a folder, not a file")
            if st is not None and not stat.S_ISDIR(st.st_mode) and not self.file_okay:
                raise UsageError(f"{path}: is not a folder")
        return super().convert(value, param, ctx)


class AliasedOption(click.Option):
    """A click option with hidden alias names: accepted on the command line, left out of help."""

    def __init__(self, *args: Any, hidden_aliases: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden_aliases = hidden_aliases

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.hidden_aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def utf8_names(model: Path, action: str = "sign or verify") -> None:
    """The OpenSSF manifest (and the ML-BOM) holds file names as UTF-8 strings: a name inside
    the model that is not UTF-8 is refused here, named, instead of a UnicodeEncodeError from
    deep in model_signing (the model's own name is only shown, with its bytes as ``\\xff``)."""
    for folder, dirs, files in os.walk(model):
        for name in (*dirs, *files):
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                shown = os.fsencode(Path(folder, name)).decode("utf-8", "backslashreplace")
                raise UsageError(
                    f"cannot {action} {model}: the name of {shown} is not UTF-8",
                    hint="rename it: signatures and ML-BOMs store file names as UTF-8",
                ) from None
