"""Terraform's built-in functions that platform code uses, for static evaluation.

Behaviour follows the Terraform language reference (developer.hashicorp.com/terraform/language/
functions). A function that is not here (``file``, ``templatefile``, ``timestamp``, ``uuid``,
``cidrsubnet``, hashing, encoding of files, provider functions) yields an unknown value. A
function given an unknown argument yields unknown, except ``coalesce``/``coalescelist`` (an
unknown before the first known non-null makes the result unknown) and the collection functions,
which carry unknown elements through. ``try`` and ``can`` are in the evaluator.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from mlstix.scan.iac._tfeval import MAX_CHARS, MAX_ITEMS
from mlstix.scan.iac._tftypes import (
    EvalError,
    LimitError,
    Unknown,
    has_unknown,
    to_bool,
    to_number,
    to_string,
)
from mlstix.scan.iac._values import Expr

__all__ = ["FUNCTIONS"]


def _tolerant(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn.tolerant = True  # type: ignore[attr-defined]
    return fn


def _items(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    raise EvalError("expected a list")


def _sized(value: Any) -> Any:
    if isinstance(value, list | dict) and len(value) > MAX_ITEMS:
        raise LimitError("collection too large")
    if isinstance(value, str) and len(value) > MAX_CHARS:
        raise LimitError("string too long")
    return value


def _merge(*maps: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in maps:
        if m is None:
            continue
        if not isinstance(m, dict):
            raise EvalError("merge() takes maps")
        out.update(m)
    return out


def _lookup(m: Any, key: Any, *default: Any) -> Any:
    if not isinstance(m, dict):
        raise EvalError("lookup() takes a map")
    k = to_string(key)
    if k in m:
        return m[k]
    if default:
        return default[0]
    raise EvalError(f"no key {k!r}")


@_tolerant
def _coalesce(*values: Any) -> Any:
    for v in values:
        if isinstance(v, Expr):
            raise Unknown
        if v is not None and v != "":
            return v
    raise EvalError("no non-null argument")


@_tolerant
def _coalescelist(*values: Any) -> Any:
    for v in values:
        if isinstance(v, Expr):
            raise Unknown
        if isinstance(v, list) and v:
            return v
    return []


def _concat(*lists: Any) -> list[Any]:
    out: list[Any] = []
    for v in lists:
        out.extend(_items(v))
    return _sized(out)  # type: ignore[no-any-return]


def _flatten(value: Any, depth: int = 0) -> list[Any]:
    out: list[Any] = []
    for v in _items(value):
        if isinstance(v, Expr):
            raise Unknown  # could be a list to flatten
        if isinstance(v, list) and depth < 64:
            out.extend(_flatten(v, depth + 1))
        else:
            out.append(v)
    return _sized(out)  # type: ignore[no-any-return]


def _format(fmt: Any, *args: Any) -> str:
    text = to_string(fmt)
    out: list[str] = []
    position = 0

    def verb(m: re.Match[str]) -> str:
        nonlocal position
        flags, width, precision, kind = m.groups()
        if kind == "%":
            return "%"
        if position >= len(args):
            raise EvalError("format(): too few arguments")
        value = args[position]
        position += 1
        if has_unknown(value):
            raise Unknown
        if int(width or 0) > 1000 or int(precision or 0) > 1000:
            raise LimitError("format(): width too large")
        if kind in ("s", "v") and not isinstance(value, list | dict):
            rendered = to_string(value)
        elif kind in ("v", "#v"):
            rendered = json.dumps(value)
        elif kind == "q":
            rendered = json.dumps(to_string(value))
        elif kind == "d":
            rendered = str(int(to_number(value)))
        elif kind in ("f", "e", "g"):
            rendered = f"{float(to_number(value)):.{int(precision or 6)}{kind}}"
        elif kind == "t":
            rendered = "true" if to_bool(value) else "false"
        else:
            raise EvalError(f"format(): unsupported verb %{kind}")
        pad = int(width or 0) - len(rendered)
        if pad > 0:
            fill = "0" if "0" in flags and kind in ("d", "f") else " "
            rendered = rendered + " " * pad if "-" in flags else fill * pad + rendered
        return rendered

    out.append(re.sub(r"%([-+# 0]*)(\d*)(?:\.(\d+))?([a-z%])", verb, text))
    return _sized("".join(out))  # type: ignore[no-any-return]


def _jsonable(value: Any, depth: int = 0) -> Any:
    if depth > 64:
        raise EvalError("value nested too deeply")
    if isinstance(value, dict):
        return {k: _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v, depth + 1) for v in value]
    return str(value) if isinstance(value, Expr) else value


@_tolerant
def _jsonencode(value: Any) -> Any:
    if isinstance(value, Expr):
        raise Unknown
    plain = _jsonable(value)
    if has_unknown(value):
        # the shape rules read policies from: a Python literal inside ${jsonencode(...)}
        return Expr("${jsonencode(" + repr(plain) + ")}")
    return _sized(json.dumps(plain, separators=(",", ":"), sort_keys=True))  # cty sorts keys


def _jsondecode(text: Any) -> Any:
    try:
        return json.loads(to_string(text))
    except (json.JSONDecodeError, RecursionError):
        raise EvalError("jsondecode(): not JSON") from None


def _toset(value: Any) -> list[Any]:
    out: list[Any] = []
    for v in _items(value):
        if not any(v == o and type(v) is type(o) for o in out):
            out.append(v)
    if all(isinstance(v, str) and not isinstance(v, Expr) for v in out):
        out.sort()
    return out


def _tomap(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EvalError("tomap() takes an object")
    return value


def _length(value: Any) -> int:
    if isinstance(value, list | dict | str):
        return len(value)
    raise EvalError("length() of a primitive")


def _keys(value: Any) -> list[str]:
    if not isinstance(value, dict):
        raise EvalError("keys() takes a map")
    return sorted(value)


def _values(value: Any) -> list[Any]:
    if not isinstance(value, dict):
        raise EvalError("values() takes a map")
    return [value[k] for k in sorted(value)]


def _contains(collection: Any, value: Any) -> bool:
    items = _items(collection)
    if any(v == value and not isinstance(v, Expr) for v in items):
        return True
    if any(isinstance(v, Expr) for v in items):
        raise Unknown
    return False


def _join(sep: Any, *lists: Any) -> str:
    parts = [p for v in lists for p in _items(v)]
    if any(isinstance(p, Expr) for p in parts):
        raise Unknown
    return _sized(to_string(sep).join(to_string(p) for p in parts))  # type: ignore[no-any-return]


def _split(sep: Any, text: Any) -> list[str]:
    s, t = to_string(sep), to_string(text)
    return _sized(t.split(s) if s else list(t))  # type: ignore[no-any-return]


def _replace(text: Any, old: Any, new: Any) -> str:
    t, o, n = to_string(text), to_string(old), to_string(new)
    if len(o) > 1 and o.startswith("/") and o.endswith("/"):
        try:
            pattern = re.compile(o[1:-1])
        except re.error:
            raise EvalError("replace(): bad regular expression") from None
        result = pattern.sub(re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", n), t)
    else:
        result = t.replace(o, n) if o else t
    return _sized(result)  # type: ignore[no-any-return]


def _element(items: Any, index: Any) -> Any:
    values = _items(items)
    if not values:
        raise EvalError("element() of an empty list")
    return values[int(to_number(index)) % len(values)]


def _range(*args: Any) -> list[int | float]:
    nums = [to_number(a) for a in args]
    start, stop, step = (
        (0, nums[0], 1) if len(nums) == 1 else (*nums[:2], nums[2] if len(nums) > 2 else 1)
    )
    if step == 0 or abs((stop - start) / step) > MAX_ITEMS:
        raise LimitError("range() too large")
    out: list[int | float] = []
    value = start
    while (step > 0 and value < stop) or (step < 0 and value > stop):
        out.append(value)
        value += step
    return out


def _substr(text: Any, offset: Any, length: Any) -> str:
    t, o, n = to_string(text), int(to_number(offset)), int(to_number(length))
    if o < 0:
        o += len(t)
    return t[o:] if n == -1 else t[o : o + n]


def _one(value: Any) -> Any:
    items = _items(value)
    if len(items) > 1:
        raise EvalError("one() of more than one element")
    return items[0] if items else None


def _zipmap(keys: Any, values: Any) -> dict[str, Any]:
    k, v = _items(keys), _items(values)
    if len(k) != len(v):
        raise EvalError("zipmap() of lists of different lengths")
    if any(isinstance(x, Expr) for x in k):
        raise Unknown
    return {to_string(a): b for a, b in zip(k, v, strict=True)}


def _all_any(want: bool) -> Callable[[Any], bool]:
    def fn(value: Any) -> bool:
        items = _items(value)
        if any(not isinstance(v, Expr) and to_bool(v) is want for v in items):
            return want
        if any(isinstance(v, Expr) for v in items):
            raise Unknown
        return not want

    return fn


def _compact(value: Any) -> list[Any]:
    return [v for v in _items(value) if v not in (None, "")]


def _distinct(value: Any) -> list[Any]:
    out: list[Any] = []
    for v in _items(value):
        if v not in out:
            out.append(v)
    return out


def _setunion(*sets: Any) -> list[Any]:
    return _toset(_concat(*sets))


def _slice(value: Any, start: Any, end: Any) -> list[Any]:
    return _items(value)[int(to_number(start)) : int(to_number(end))]


def _strip(chars: Callable[[str, str], str]) -> Callable[[Any, Any], str]:
    return lambda text, cut: chars(to_string(text), to_string(cut))


def _str1(fn: Callable[[str], Any]) -> Callable[[Any], Any]:
    return lambda text: fn(to_string(text))


def _num1(fn: Callable[[float], Any]) -> Callable[[Any], Any]:
    return lambda value: fn(to_number(value))


def _tolist(value: Any) -> list[Any]:
    return _items(value)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": _num1(abs),
    "alltrue": _all_any(False),
    "anytrue": _all_any(True),
    "ceil": _num1(math.ceil),
    "chomp": _str1(lambda s: s.rstrip("\r\n")),
    "coalesce": _coalesce,
    "coalescelist": _coalescelist,
    "compact": _compact,
    "concat": _concat,
    "contains": _contains,
    "distinct": _distinct,
    "element": _element,
    "endswith": lambda s, suffix: to_string(s).endswith(to_string(suffix)),
    "flatten": _flatten,
    "floor": _num1(math.floor),
    "format": _format,
    "join": _join,
    "jsondecode": _jsondecode,
    "jsonencode": _jsonencode,
    "keys": _keys,
    "length": _length,
    "lookup": _lookup,
    "lower": _str1(str.lower),
    "max": lambda *n: max(to_number(x) for x in n),
    "merge": _merge,
    "min": lambda *n: min(to_number(x) for x in n),
    "nonsensitive": lambda v: v,
    "one": _one,
    "range": _range,
    "replace": _replace,
    "reverse": lambda v: list(reversed(_items(v))),
    "sensitive": lambda v: v,
    "setunion": _setunion,
    "slice": _slice,
    "sort": lambda v: sorted(to_string(x) for x in _items(v)),
    "split": _split,
    "startswith": lambda s, prefix: to_string(s).startswith(to_string(prefix)),
    "strcontains": lambda s, sub: to_string(sub) in to_string(s),
    "substr": _substr,
    "title": _str1(lambda s: re.sub(r"\b\w", lambda m: m.group(0).upper(), s)),
    "tobool": lambda v: None if v is None else to_bool(v),
    "tolist": _tolist,
    "tomap": _tomap,
    "tonumber": lambda v: None if v is None else to_number(v),
    "toset": _toset,
    "tostring": lambda v: None if v is None else to_string(v),
    "trim": _strip(lambda s, c: s.strip(c)),
    "trimprefix": _strip(lambda s, p: s.removeprefix(p)),
    "trimspace": _str1(str.strip),
    "trimsuffix": _strip(lambda s, p: s.removesuffix(p)),
    "upper": _str1(str.upper),
    "values": _values,
    "zipmap": _zipmap,
}
