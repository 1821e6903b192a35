"""The names a chat template reaches, read with Jinja's own parser (the template is parsed,
never rendered).

A template escapes to Python through attribute and item access: ``x.__class__``,
``x['__class__']``, ``x|attr(...)``. An attacker builds the name at run time so that no
literal spells it: ``'_'*2 ~ 'class' ~ '_'*2``, ``'%s%sclass%s%s'|format('_', ...)``,
``dict(_=1)|list|first``, ``'ssalc'|reverse``, a ``{% set %}`` variable holding any of those.
Constant string expressions are folded here the way Jinja evaluates them (concatenation,
``+``, ``*``, ``format``, ``join``, ``replace``, ``reverse``, ``lower``/``upper``, ``first``/
``last``, ``list``, ``string``, ``dict(...)`` keys, indexing and slicing of constants, and
variables set from them), and every accessed name is returned; an access whose name is built
from string operations that cannot be folded, or taken from a special token's text (which the
model's vocabulary, written with the template, supplies), is returned as ``<computed>``.

Reference: Jinja ``jinja2/nodes.py`` and ``jinja2/filters.py``; CVE-2024-34359 (a GGUF chat
template rendered outside Jinja's sandbox).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["COMPUTED", "accessed_names"]

COMPUTED = "<computed>"
_UNKNOWN = object()
_MAX_NODES = 200_000
_MAX_TEXT = 1 << 16
_WIDE = re.compile(r"%[-+ #0]*(?:\*|\d{4,})|%[-+ #0]*\d*\.(?:\*|\d{4,})")
_STRING_FILTERS = frozenset(
    ["join", "format", "replace", "reverse", "lower", "upper", "string", "trim", "title",
     "capitalize", "center", "indent", "urlencode", "striptags", "wordwrap", "truncate"]
)  # fmt: skip


def accessed_names(template: str) -> list[str]:
    """Every attribute and item name the template accesses (folded where constant). Raises
    ``ValueError`` when Jinja cannot parse it (the loader would refuse it too)."""
    from jinja2 import Environment, nodes
    from jinja2.exceptions import TemplateError

    try:
        env = Environment(extensions=["jinja2.ext.loopcontrols"], autoescape=True)
        tree = env.parse(template)  # parsed, never rendered
    except (TemplateError, RecursionError) as exc:
        raise ValueError(f"not a Jinja template: {type(exc).__name__}: {exc}") from None
    try:
        return _walk(tree, nodes)
    except RecursionError:  # Jinja's compiler and Python's cannot render it either
        raise ValueError("template nested too deeply to follow") from None


def _walk(tree: Any, nodes: Any) -> list[str]:
    folder = _Folder(nodes)
    names: list[str] = []
    for count, node in enumerate(tree.find_all(nodes.Node)):
        if count > _MAX_NODES:  # the rest is not followed: judged as built at run time
            names.append(COMPUTED)
            break
        if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
            folder.env[node.target.name] = folder.fold(node.node, 0)
            folder.built[node.target.name] = folder.builds_strings(node.node)
        elif isinstance(node, nodes.Getattr):
            names.append(node.attr)
        elif isinstance(node, nodes.Getitem):
            names += folder.names(node.arg)
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            names += folder.names(node.args[0])
    return names


class _Folder:
    def __init__(self, nodes: Any) -> None:
        self.n = nodes
        self.env: dict[str, Any] = {}
        self.built: dict[str, bool] = {}  # set from string operations

    def names(self, node: Any) -> list[str]:
        value = self.fold(node, 0)
        if isinstance(value, str):
            return [value]
        if value is _UNKNOWN and (self.builds_strings(node) or self._token_text(node)):
            return [COMPUTED]
        return []

    def _token_text(self, node: Any) -> bool:
        """A name taken from the special tokens (``bos_token``, ``eos_token``...): their text
        comes from the model's own vocabulary, which whoever wrote the template also wrote."""
        n = self.n
        return any(
            isinstance(sub, n.Name) and sub.name.endswith("_token")
            for sub in [node, *node.find_all(n.Name)]
        )

    def builds_strings(self, node: Any) -> bool:
        """Whether an expression makes a string by string operations: ``~``, ``+``/``*``
        with a string, a string filter, or a variable set from such an expression."""
        n = self.n
        for sub in [node, *node.find_all(n.Node)]:
            if isinstance(sub, n.Concat):
                return True
            if isinstance(sub, n.Add | n.Mul) and any(
                isinstance(self.fold(side, 0), str) for side in (sub.left, sub.right)
            ):
                return True
            if isinstance(sub, n.Filter) and sub.name in _STRING_FILTERS:
                return True
            if isinstance(sub, n.Name) and self.built.get(sub.name):
                return True
        return False

    def fold(self, node: Any, depth: int) -> Any:
        """The constant value of an expression, or ``_UNKNOWN``."""
        n = self.n
        if depth > 64:
            return _UNKNOWN
        d = depth + 1
        if isinstance(node, n.Const):
            return node.value
        if isinstance(node, n.Name):
            return self.env.get(node.name, _UNKNOWN)
        if isinstance(node, n.Tuple | n.List):
            items = [self.fold(i, d) for i in node.items]
            return _UNKNOWN if _UNKNOWN in items else items
        if isinstance(node, n.Concat):
            parts = [self.fold(i, d) for i in node.nodes]
            if _UNKNOWN in parts:
                return _UNKNOWN
            return _text("".join(str(p) for p in parts))
        if isinstance(node, n.Add | n.Mul):
            left, right = self.fold(node.left, d), self.fold(node.right, d)
            if isinstance(node, n.Mul) and not _small_product(left, right):
                return _UNKNOWN
            try:
                value = left + right if isinstance(node, n.Add) else left * right
            except (TypeError, OverflowError, MemoryError):
                return _UNKNOWN
            return _text(value)
        if isinstance(node, n.Getitem):
            target, index = self.fold(node.node, d), self.fold(node.arg, d)
            if isinstance(index, slice) or isinstance(node.arg, n.Slice):
                index = self._slice(node.arg, d)
            try:
                return target[index]
            except (TypeError, IndexError, KeyError, ValueError):
                return _UNKNOWN
        if isinstance(node, n.Call) and isinstance(node.node, n.Name) and node.node.name == "dict":
            return [kw.key for kw in node.kwargs]  # what |list, |join and |first see of it
        if isinstance(node, n.Filter):
            return self._filter(node, d)
        return _UNKNOWN

    def _slice(self, node: Any, d: int) -> Any:
        parts = [None if p is None else self.fold(p, d) for p in (node.start, node.stop, node.step)]
        if _UNKNOWN in parts:
            return _UNKNOWN
        return slice(*parts)

    def _filter(self, node: Any, d: int) -> Any:
        value = self.fold(node.node, d) if node.node is not None else _UNKNOWN
        args = [self.fold(a, d) for a in node.args]
        if value is _UNKNOWN or _UNKNOWN in args:
            return _UNKNOWN
        name = node.name
        try:
            if name == "join" and isinstance(value, str | list):
                return _text(str(args[0] if args else "").join(str(v) for v in value))
            if name == "format":
                if _WIDE.search(str(value)):
                    return _UNKNOWN  # '%999999999s': no name is that wide
                return _text(str(value) % tuple(args))
            if name == "replace" and len(args) >= 2:
                return _text(str(value).replace(str(args[0]), str(args[1])))
            if name == "reverse":
                return value[::-1] if isinstance(value, str | list) else _UNKNOWN
            if name in ("lower", "upper", "title", "capitalize", "trim"):
                text = str(value)
                return {"lower": text.lower(), "upper": text.upper(), "title": text.title(),
                        "capitalize": text.capitalize(), "trim": text.strip()}[name]  # fmt: skip
            if name in ("first", "last") and isinstance(value, str | list):
                return value[0 if name == "first" else -1]
            if name == "list" and isinstance(value, str | list):
                return list(value)
            if name == "string":
                return str(value)
        except (TypeError, ValueError, IndexError, KeyError, OverflowError, MemoryError):
            return _UNKNOWN
        return _UNKNOWN


def _small_product(left: Any, right: Any) -> bool:
    """Whether ``left * right`` stays small (a string or list repeated a few times)."""
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list) and isinstance(times, int):
            return len(seq) * max(times, 0) <= _MAX_TEXT
    return (
        isinstance(left, int | float)
        and isinstance(right, int | float)
        and (abs(left) < 1 << 32 and abs(right) < 1 << 32)
    )


def _text(value: Any) -> Any:
    """A folded value, unless it is a string too long to be a name."""
    if isinstance(value, str | list) and len(value) > _MAX_TEXT:
        return _UNKNOWN
    return value
