"""The values the HCL converter produces: expression trees (:class:`Node`), top-level blocks,
syntax errors, and the string-literal rules they share (escapes, ``$${`` and ``%%{``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "HclSyntaxError",
    "Node",
    "TopBlock",
    "literal_text",
    "too_deep",
    "unescape",
]

_ESCAPE = re.compile(r'\\(["\\nrt]|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})')
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
MAX_DEPTH = 100


class HclSyntaxError(ValueError):
    """The file is not valid HCL; the message names line and column."""


@dataclass(frozen=True, slots=True)
class Node:
    """An HCL expression that is not a literal. ``kind`` and ``args``:

    ``tpl`` (parts: str | Node ...), ``var`` (name), ``trav`` (base, steps) with steps
    ``("attr", name)``, ``("index", value)``, ``("splat", steps)``; ``call`` (name, args, expand
    last); ``cond`` (test, then, else); ``bin`` (op, a, b); ``un`` (op, a); ``tuple`` (items);
    ``object`` (pairs of key, value); ``for`` (is_object, key_var, value_var, collection, key,
    value, condition, grouping); ``unknown`` (a construct not evaluated: template directives).
    """

    kind: str
    args: tuple[Any, ...]
    src: str


@dataclass(frozen=True)
class TopBlock:
    """A top-level block: ``resource "type" "name" { ... }`` and its first line."""

    type: str
    labels: tuple[str, ...]
    body: dict[str, Any]
    line: int


def unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), text)


def literal_text(text: str, quoted: bool) -> str:
    text = unescape(text) if quoted else text
    return text.replace("$${", "${").replace("%%{", "%{")


def too_deep() -> HclSyntaxError:
    return HclSyntaxError(f"HCL nesting too deep (over {MAX_DEPTH} levels)")
