"""YAML as mlstix reads every file a user hands it: safe, and wrong input is one ``YAMLError``.

PyYAML's safe constructors raise ``ValueError``, ``KeyError`` or ``AttributeError`` for a scalar
that matches a tag's pattern but not its meaning (``date: 2026-02-30``, ``!!int abc``,
``!!bool maybe``): those reached users as tracebacks. :class:`Loader` turns each into a
``ConstructorError`` at the value's line, and :func:`problem` says any ``YAMLError`` on one line
(PyYAML's own text spans four, with the offending line and a caret).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError

__all__ = ["Loader", "load", "problem"]

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_Base):  # type: ignore[valid-type,misc]
    """libyaml's safe loader (PyYAML's when libyaml is missing); a value its tag cannot
    construct is a ``ConstructorError`` naming the line, never another exception."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError) as exc:
            tag = node.tag.rsplit(":", 1)[-1]
            value = node.value if isinstance(node, yaml.ScalarNode) else "..."
            reason = f": {exc}" if tag == "timestamp" and isinstance(exc, ValueError) else ""
            raise ConstructorError(
                None, None, f"{value!r} is not a valid {tag}{reason}", node.start_mark
            ) from None


def load(text: str) -> Any:
    """The one document in ``text``; raises only ``yaml.YAMLError`` (and ``RecursionError``
    for absurd nesting, which the command line reports itself)."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a safe loader


def problem(exc: yaml.YAMLError) -> str:
    """``line L, column C: what`` on one line, for an error message that names the file."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = getattr(exc, "problem", None) or " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    if context and getattr(exc, "problem", None):
        what = f"{what} ({context})"
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{what}"
