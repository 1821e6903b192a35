"""The one error hierarchy of mlstix.

Library code raises a subclass of :class:`MlstixError`; only ``mlstix.cli`` turns one into a
message and an exit code. Each error carries a remediation ``hint`` for the user.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["KbDataError", "MlstixError", "OutputError", "UsageError"]


class MlstixError(Exception):
    """Base of every error mlstix reports to a user."""

    hint: str = ""
    exit_code: int = 2

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint

    def diagnostics(self) -> str:
        """The full message for a terminal: what went wrong, then what to do."""
        text = str(self)
        return f"{text}\nhint: {self.hint}" if self.hint else text


class UsageError(MlstixError):
    """The user asked for something that cannot be done as asked."""


class OutputError(MlstixError):
    """An output could not be written: ``cannot write PATH: reason`` (exit 2)."""

    def __init__(self, path: object, reason: str, *, hint: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot write {path}: {reason}", hint=hint)

    @classmethod
    def from_os_error(cls, path: object, exc: OSError) -> OutputError:
        """The one wording for every ``OSError`` met while writing ``path``."""
        reason = exc.strerror or str(exc) or type(exc).__name__
        return cls(path, reason[:1].lower() + reason[1:])


class KbDataError(MlstixError):
    """The authored knowledge base is invalid. ``problems`` each name a file and a field."""

    hint = "fix the authored YAML under src/mlstix/kb/data/ (format: its README.md)"

    def __init__(self, problems: Sequence[str], *, folder: object = None) -> None:
        """``folder``: the data folder read when it is not the packaged one (MLSTIX_KB_DATA)."""
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        hint = (
            f"fix the authored YAML under {folder} (format: src/mlstix/kb/data/README.md)"
            if folder is not None
            else ""
        )
        super().__init__(
            f"the knowledge base has {count} problem{'s' * (count != 1)}:\n{lines}", hint=hint
        )
