"""Helpers over attribute trees: unresolved expressions, path lookup, value normalization.

Attribute trees follow the shape of ``terraform show -json``: nested blocks are lists of
mappings, attributes are scalars, lists or mappings. A path like ``versioning.enabled`` descends
into the first block of a list when the next step is a name; a numeric step indexes a list.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["Expr", "LineIndex", "is_unknown", "lookup", "norm", "walk_limited"]


class Expr(str):
    """An expression a parser could not resolve to a literal value (a reference, a function)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Expr({str.__repr__(self)})"


def is_unknown(value: Any) -> bool:
    return isinstance(value, Expr)


_ABSENT: Any = None


def lookup(tree: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``tree``, or None when any step is missing.

    An unresolved expression met on the way is returned as is (the value is unknown).
    """
    node = tree
    for step in path.split("."):
        while isinstance(node, list) and not step.isdigit():
            if not node:
                return _ABSENT
            node = node[0]
        if isinstance(node, Expr):
            return node
        if isinstance(node, Mapping):
            node = node.get(step)
        elif isinstance(node, list):
            index = int(step)
            node = node[index] if index < len(node) else None
        else:
            return _ABSENT
        if node is None:
            return _ABSENT
    return node


def norm(value: Any) -> Any:
    """Comparable form: booleans from ``"true"``/``"false"``, strings case-folded."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str) and not isinstance(value, Expr):
        low = value.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        return low
    return value


class BudgetExceeded(ValueError):
    """A document is too large to walk (for example a YAML alias bomb)."""


def walk_limited(value: Any, budget: list[int], max_depth: int = 1_000_000) -> None:
    """Charge ``budget[0]`` one unit per node of ``value``; raise when it runs out or when the
    document nests deeper than ``max_depth`` (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise BudgetExceeded("document too large (more than the node budget after aliases)")
        if depth > max_depth:
            raise BudgetExceeded(f"document nested deeper than {max_depth} levels")
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


class LineIndex:
    """Offsets → 1-based line numbers for one text."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)
