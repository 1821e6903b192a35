"""Azure Resource Manager JSON templates → :class:`Resource`.

Template structure: https://learn.microsoft.com/azure/azure-resource-manager/templates/syntax.
Resources are read from ``resources`` (an array, or a symbolic-name object in language version
2.0), child resources from a resource's own ``resources`` (their type is the parent's type plus
the child's, as ARM defines it). ``[parameters('x')]`` and ``[variables('x')]`` resolve to a
literal ``defaultValue`` / variable; every other template expression becomes an :class:`Expr`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import Expr, LineIndex
from mlstix.scan.iac.resource import ParsedFile, Resource

__all__ = ["ArmParser", "is_arm"]

_INNER = re.compile(r"\b(parameters|variables)\(\s*'([^']+)'\s*\)")
_SIMPLE = re.compile(r"^\[\s*(parameters|variables)\(\s*'([^']+)'\s*\)\s*\]$")


def is_arm(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "deploymentTemplate.json" in str(doc.get("$schema", ""))
        and "resources" in doc
    )


class _Resolver:
    def __init__(self, params: Mapping[str, Any], variables: Mapping[str, Any]) -> None:
        self.params = params
        self.variables = variables

    def __call__(self, value: Any, depth: int = 0) -> Any:
        if depth > 100:
            return Expr("...")
        if isinstance(value, str):
            if value.startswith("[[") or not (value.startswith("[") and value.endswith("]")):
                return value[1:] if value.startswith("[[") else value
            m = _SIMPLE.match(value)
            if m:
                table = self.params if m.group(1) == "parameters" else self.variables
                if m.group(2) in table:
                    found = table[m.group(2)]
                    return found if depth > 90 else self(found, depth + 10)
            return Expr(_INNER.sub(self._inline, value))
        if isinstance(value, dict):
            return {k: self(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, depth + 1) for v in value]
        return value

    def _inline(self, m: re.Match[str]) -> str:
        """``parameters('x')`` inside a larger expression → ``'literal'`` when it is a string."""
        table = self.params if m.group(1) == "parameters" else self.variables
        found = table.get(m.group(2))
        if isinstance(found, str) and "'" not in found and not found.startswith("["):
            return f"'{found}'"
        return m.group(0)


def _resources(items: Any, parent: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    values = items.values() if isinstance(items, dict) else items if isinstance(items, list) else []
    for res in values:
        if not isinstance(res, dict) or not isinstance(res.get("type"), str):
            continue
        rtype = f"{parent}/{res['type']}" if parent and "/" not in res["type"] else res["type"]
        yield rtype, res
        yield from _resources(res.get("resources"), rtype)


class ArmParser:
    kind = "arm"

    def parse(self, document: Any, text: str, path: str) -> ParsedFile:
        params = {
            k: p["defaultValue"]
            for k, p in (document.get("parameters") or {}).items()
            if isinstance(p, dict) and "defaultValue" in p
        }
        resolve = _Resolver(params, document.get("variables") or {})
        index = LineIndex(text)
        cursor = 0
        out = []
        for rtype, res in _resources(document.get("resources")):
            raw_type = json.dumps(res["type"])
            m = re.compile(r'"type"\s*:\s*' + re.escape(raw_type)).search(text, cursor)
            line = 1
            if m:
                cursor = m.end()
                line = index.line_of(m.start())
            name = resolve(res.get("name", ""))
            attrs = resolve({k: v for k, v in res.items() if k != "resources"})
            out.append(
                Resource(
                    provider="azure",
                    type=rtype,
                    name=str(name).rsplit("/", 1)[-1] if not isinstance(name, Expr) else name,
                    attributes=attrs,
                    file=path,
                    line=line,
                    language="arm",
                    scope=path,
                )
            )
        return ParsedFile(tuple(out), self.kind)
