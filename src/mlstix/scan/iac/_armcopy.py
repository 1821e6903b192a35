"""ARM ``copy`` loops: a resource's ``copy`` (``{"name", "count"}``) deploys ``count`` instances,
``copyIndex()`` / ``copyIndex(offset)`` / ``copyIndex('loop'[, offset])`` giving each its index;
a property's ``copy`` array (``[{"name": "p", "count": n, "input": {...}}]``) builds the array
property ``p`` from ``input`` (Resource Manager docs, "Resource iteration" and "Property
iteration"). ``count`` may be a literal, ``parameters()``/``variables()`` or ``length()`` of one;
a count that cannot be known leaves the resource as written (one instance, its ``copyIndex()``
unknown), as an unknown ``count`` does in Terraform. At most :data:`MAX_COPIES` (ARM's limit).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["MAX_COPIES", "MAX_EXPANDED", "Budget", "expand_properties", "instances"]

MAX_COPIES = 800
MAX_EXPANDED = 50_000  # instances and property elements one template may expand to


class Budget:
    """What one template's loops may still expand to; past it the template is refused."""

    def __init__(self, left: int = MAX_EXPANDED) -> None:
        self.left = left

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise ValueError(f"copy loops expand to more than {MAX_EXPANDED} resources/elements")


_INDEX = re.compile(r"copyIndex\(\s*(?:'([^']*)'\s*)?(?:,?\s*(-?\d+)\s*)?\)", re.I)
_LENGTH = re.compile(r"^\[\s*length\(\s*(parameters|variables)\(\s*'([^']+)'\s*\)\s*\)\s*\]$")


def _substitute(value: Any, loop: str | None, i: int, unnamed: bool, depth: int = 0) -> Any:
    """``copyIndex('loop')`` (and, when ``unnamed``, ``copyIndex()``: the resource's own loop)
    → ``i`` plus its offset; another loop's index is left as written."""
    if depth > 100:
        return value
    if isinstance(value, str) and value.startswith("[") and "copyindex" in value.lower():

        def one(m: re.Match[str]) -> str:
            name, offset = m.group(1), int(m.group(2) or 0)
            if (name is None and not unnamed) or (name is not None and name != loop):
                return m.group(0)
            return str(i + offset)

        text = _INDEX.sub(one, value)
        bare = re.fullmatch(r"\[\s*(-?\d+)\s*\]", text)
        return int(bare.group(1)) if bare else text  # "[copyIndex()]" is the number itself
    if isinstance(value, dict):
        return {k: _substitute(v, loop, i, unnamed, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, loop, i, unnamed, depth + 1) for v in value]
    return value


def _count(
    spec: Mapping[str, Any], resolve: Callable[[Any], Any], tables: Mapping[str, Mapping[str, Any]]
) -> int | None:
    raw = spec.get("count")
    if isinstance(raw, str) and (m := _LENGTH.match(raw)):
        found = tables[m.group(1)].get(m.group(2))
        return len(found) if isinstance(found, list | dict) else None
    value = resolve(raw)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_COPIES else None
    if isinstance(value, str) and value.isdigit() and int(value) <= MAX_COPIES:
        return int(value)
    return None


def instances(
    res: Mapping[str, Any],
    resolve: Callable[[Any], Any],
    tables: Mapping[str, Mapping[str, Any]],
    budget: Budget,
) -> Iterator[Mapping[str, Any]]:
    """The instances a resource deploys (itself when it has no ``copy`` or an unknown count)."""
    spec = res.get("copy")
    if not isinstance(spec, Mapping):
        yield res
        return
    count = _count(spec, resolve, tables)
    if count is None:
        yield res
        return
    budget.take(count)
    body = {k: v for k, v in res.items() if k != "copy"}
    name = spec.get("name") if isinstance(spec.get("name"), str) else None
    for i in range(count):
        yield _substitute(body, name, i, unnamed=True)


def expand_properties(
    props: Any,
    resolve: Callable[[Any], Any],
    tables: Mapping[str, Mapping[str, Any]],
    budget: Budget,
) -> Any:
    """A ``properties`` object whose ``copy`` array builds array properties."""
    if not isinstance(props, Mapping) or not isinstance(props.get("copy"), list):
        return props
    out = {k: v for k, v in props.items() if k != "copy"}
    for spec in props["copy"]:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            continue
        count = _count(spec, resolve, tables)
        if count is None:
            out[spec["name"]] = [spec.get("input")]  # one element, its index unknown
            continue
        budget.take(count)
        out[spec["name"]] = [
            _substitute(spec.get("input"), spec["name"], i, unnamed=False) for i in range(count)
        ]
    return out
