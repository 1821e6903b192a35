"""More of Terraform's built-in functions: set algebra, ``setproduct`` (the matrix ``for_each``
of platform code), ``index``, ``formatlist``, ``base64encode``/``base64decode``.

Behaviour as in the Terraform language reference; an unknown element makes the result unknown.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Callable
from typing import Any

from mlstix.scan.iac._tfeval import MAX_ITEMS
from mlstix.scan.iac._tffuncs import FUNCTIONS
from mlstix.scan.iac._tftypes import EvalError, LimitError, Unknown, to_string
from mlstix.scan.iac._values import Expr

__all__ = ["MORE_FUNCTIONS"]


def _known_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise EvalError("expected a list or set")
    if any(isinstance(v, Expr) for v in value):
        raise Unknown
    return value


def _unique(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    if all(isinstance(v, str) for v in out):
        out.sort()
    return out


def _setintersection(first: Any, *others: Any) -> list[Any]:
    rest = [_known_list(o) for o in others]
    return _unique([v for v in _known_list(first) if all(v in o for o in rest)])


def _setsubtract(a: Any, b: Any) -> list[Any]:
    other = _known_list(b)
    return _unique([v for v in _known_list(a) if v not in other])


def _setproduct(*sets: Any) -> list[list[Any]]:
    lists = [_known_list(s) for s in sets]
    total = 1
    for items in lists:
        total *= len(items)
        if total > MAX_ITEMS:
            raise LimitError("setproduct() too large")
    return [list(combo) for combo in itertools.product(*lists)]


def _index(items: Any, value: Any) -> int:
    values = _known_list(items)
    if value not in values:
        raise EvalError("index(): value not found")
    return values.index(value)


def _formatlist(fmt: Any, *args: Any) -> list[str]:
    lengths = {len(a) for a in args if isinstance(a, list)}
    if len(lengths) > 1:
        raise EvalError("formatlist(): lists of different lengths")
    count = lengths.pop() if lengths else 1
    if count > MAX_ITEMS:
        raise LimitError("formatlist(): too many items")
    return [
        FUNCTIONS["format"](fmt, *(a[i] if isinstance(a, list) else a for a in args))
        for i in range(count)
    ]


def _b64decode(text: Any) -> str:
    try:
        return base64.b64decode(to_string(text), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise EvalError("base64decode(): not base64 of UTF-8") from None


MORE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "base64decode": _b64decode,
    "base64encode": lambda t: base64.b64encode(to_string(t).encode("utf-8")).decode("ascii"),
    "formatlist": _formatlist,
    "index": _index,
    "setintersection": _setintersection,
    "setproduct": _setproduct,
    "setsubtract": _setsubtract,
}
