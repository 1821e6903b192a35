"""CloudFormation ``Fn::ForEach`` (the ``AWS::LanguageExtensions`` transform) in ``Resources``:
the loop is expanded into the resources it creates, as CloudFormation does before deploying.

``Fn::ForEach::Name: [Identifier, Collection, {OutputKey: Template}]``: for each value of the
collection (a list, or a reference to a ``CommaDelimitedList`` parameter), ``${Identifier}`` and
``&{Identifier}`` (the value without non-alphanumeric characters) are replaced in the output
key and in the template's strings, and ``{"Ref": Identifier}`` by the value; loops nest. When
the collection cannot be known, the template is read once with the identifier unknown (the
resource exists, its name and values depending on the identifier are not known).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from mlstix.scan.iac._values import Expr

__all__ = ["MAX_EXPANDED", "expand"]

MAX_EXPANDED = 10_000
_PREFIX = "Fn::ForEach::"


def _replace(value: Any, ident: str, item: str | None, depth: int = 0) -> Any:
    """``item`` None: the identifier is unknown (its ``Ref`` becomes an :class:`Expr`)."""
    if depth > 64:
        return value
    if item is None:
        if isinstance(value, dict) and value == {"Ref": ident}:
            return Expr("${" + ident + "}")
        if isinstance(value, dict):
            return {k: _replace(v, ident, None, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [_replace(v, ident, None, depth + 1) for v in value]
        return value
    if isinstance(value, str):
        alnum = re.sub(r"[^A-Za-z0-9]", "", item)
        return value.replace("${" + ident + "}", item).replace("&{" + ident + "}", alnum)
    if isinstance(value, list):
        return [_replace(v, ident, item, depth + 1) for v in value]
    if isinstance(value, dict):
        if value == {"Ref": ident}:
            return item
        return {
            _replace(k, ident, item, depth + 1): _replace(v, ident, item, depth + 1)
            for k, v in value.items()
        }
    return value


def expand(
    resources: dict[str, Any], resolve: Callable[[Any], Any], depth: int = 0
) -> Iterator[tuple[str, Any, str]]:
    """(logical id, resource, the key it was written under) of every resource, loops expanded."""
    count = 0
    for key, value in resources.items():
        if not (isinstance(key, str) and key.startswith(_PREFIX)):
            yield key, value, key
            continue
        if depth > 8 or not (isinstance(value, list) and len(value) == 3):
            continue  # not a loop CloudFormation would accept
        ident, collection, template = value
        if not isinstance(ident, str) or not isinstance(template, dict):
            continue
        items = resolve(collection)
        if isinstance(items, str) and not isinstance(items, Expr):
            items = items.split(",")
        known = isinstance(items, list) and all(
            isinstance(i, str | int) and not isinstance(i, Expr) for i in items
        )
        for item in items if known else [None]:
            expanded = _replace(template, ident, None if item is None else str(item))
            for logical_id, resource, _ in expand(expanded, resolve, depth + 1):
                count += 1
                if count > MAX_EXPANDED:
                    return
                yield logical_id, resource, key
