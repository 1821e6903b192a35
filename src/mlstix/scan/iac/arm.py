"""Azure Resource Manager JSON templates → :class:`Resource`.

Template structure: https://learn.microsoft.com/azure/azure-resource-manager/templates/syntax.
Resources are read from ``resources`` (an array, or a symbolic-name object in language version
2.0), child resources from a resource's own ``resources`` (their type is the parent's type plus
the child's, as ARM defines it). ``[parameters('x')]`` and ``[variables('x')]`` resolve to the
value given with ``--parameter x=...`` or the literal ``defaultValue`` / variable (an element
``[parameters('x')[0].name]`` too); ``copy`` loops expand (:mod:`._armcopy`); ``format`` and
``concat`` of literal arguments (Bicep's child names, ``format('{0}/{1}', ...)``) give their
string; every other template expression becomes an :class:`Expr`. A resource whose
``condition`` is false at these values (a literal, ``parameters()``/``variables()``,
``equals``, ``not``, ``and``, ``or`` of them) is not deployed, so not reported. A resource
declared ``"existing": true`` (language version 2.0; Bicep's ``existing`` keyword) is a reference
to a resource deployed elsewhere, like a Terraform data source: it is kept, marked ``data``, for
the references it answers, and no rule judges it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._armcopy import Budget, expand_properties, instances
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
            found = _member(value, self.params, self.variables)
            if found is not None:
                return found if depth > 90 else self(found, depth + 10)
            m = _SIMPLE.match(value)
            if m:
                table = self.params if m.group(1) == "parameters" else self.variables
                if m.group(2) in table:
                    found = table[m.group(2)]
                    return found if depth > 90 else self(found, depth + 10)
            inlined = _INNER.sub(self._inline, value)
            literal = _string_call(inlined)
            return literal if literal is not None else Expr(inlined)
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


_MEMBER = re.compile(
    r"^\[\s*(parameters|variables)\(\s*'([^']+)'\s*\)((?:\[\d+\]|\.[A-Za-z_]\w*)+)\s*\]$"
)
_STEP = re.compile(r"\[(\d+)\]|\.([A-Za-z_]\w*)")


def _member(expr: str, params: Mapping[str, Any], variables: Mapping[str, Any]) -> Any:
    """``[parameters('x')[0]]``, ``[variables('v')[1].name]``: the element, or None."""
    m = _MEMBER.match(expr)
    if m is None:
        return None
    node = (params if m.group(1) == "parameters" else variables).get(m.group(2))
    for step in _STEP.finditer(m.group(3)):
        if step.group(1) is not None and isinstance(node, list):
            i = int(step.group(1))
            node = node[i] if i < len(node) else None
        elif step.group(2) is not None and isinstance(node, dict):
            node = node.get(step.group(2))
        else:
            return None
        if node is None:
            return None
    return node


_STRING_CALL = re.compile(r"^\[\s*(format|concat)\((.*)\)\s*\]$", re.S)
_LITERAL = re.compile(r"^'((?:[^']|'')*)'$|^(-?\d+)$", re.S)
_PLACE = re.compile(r"\{(\d+)(?::[^}]*)?\}")


def _string_call(expr: str) -> str | None:
    """``[format('{0}/{1}', 'kv', 'cmk')]`` or ``[concat('kv', '/', 'cmk')]`` of literal
    arguments (what Bicep writes for child names, once parameters are inlined) → the string."""
    m = _STRING_CALL.match(expr)
    if m is None:
        return None
    args: list[str] = []
    for arg in _split_args(m.group(2)):
        lit = _LITERAL.match(arg)
        if lit is None:
            return None
        args.append(lit.group(1).replace("''", "'") if lit.group(1) is not None else lit.group(2))
    if m.group(1) == "concat":
        return "".join(args)
    if not args:
        return None
    values = args[1:]

    def place(p: re.Match[str]) -> str:
        i = int(p.group(1))
        if i >= len(values):
            raise IndexError
        return values[i]

    try:
        return _PLACE.sub(place, args[0]).replace("{{", "{").replace("}}", "}")
    except IndexError:
        return None


def _resources(
    items: Any, parent: str = "", parent_name: Any = None
) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(full type, resource, its name as written or None for a child to be prefixed by
    :func:`_full_name`), children after their parent."""
    values = items.values() if isinstance(items, dict) else items if isinstance(items, list) else []
    for res in values:
        if not isinstance(res, dict) or not isinstance(res.get("type"), str):
            continue
        # a child's type is its own segment; an extension declared inside its parent
        # (``providers/diagnosticSettings``, name ``Microsoft.Insights/x``) extends the parent
        child = "/" not in res["type"] or res["type"].lower().startswith("providers/")
        rtype = f"{parent}/{res['type']}" if parent and child else res["type"]
        yield rtype, res, parent_name
        yield from _resources(res.get("resources"), rtype, res)


def _full_name(rtype: str, name: Any, parent: Any) -> Any:
    """The full name path ARM gives a resource: one segment per type segment after the
    namespace (``ws/endpoint/blue`` for ``.../workspaces/onlineEndpoints/deployments``). A child
    declared inside its parent writes only its own segment; the parent's path is put before it.
    A name that is not known stays an :class:`Expr`."""
    depth = rtype.count("/")
    if parent is None or not isinstance(name, str) or isinstance(name, Expr):
        return name
    if name.count("/") + 1 >= depth or not isinstance(parent, str):
        return name
    return (Expr if isinstance(parent, Expr) else str)(f"{parent}/{name}")


_CALL = re.compile(r"^\s*(equals|not|and|or|parameters|variables|bool)\((.*)\)\s*$", re.S)


def _split_args(text: str) -> list[str]:
    args, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and ch == "," and depth == 0:
            args.append(text[start:i])
            start = i + 1
    args.append(text[start:])
    return [a.strip() for a in args if a.strip()]


def _condition(
    expr: str, params: Mapping[str, Any], variables: Mapping[str, Any], depth: int = 0
) -> Any:
    """Value of a (small) ARM expression, or None when it cannot be decided."""
    if depth > 20:
        return None
    expr = expr.strip()
    if expr.startswith("'") and expr.endswith("'"):
        return expr[1:-1].replace("''", "'")
    if expr in ("true", "false"):
        return expr == "true"
    if re.fullmatch(r"-?\d+", expr):
        return int(expr)
    m = _CALL.match(expr)
    if not m:
        return None
    name, args = m.group(1), _split_args(m.group(2))
    values = [_condition(a, params, variables, depth + 1) for a in args]
    if any(v is None for v in values):
        return None
    if name in ("parameters", "variables") and len(values) == 1:
        table = params if name == "parameters" else variables
        found = table.get(str(values[0]))
        return found if isinstance(found, str | int | bool) else None
    if name == "equals" and len(values) == 2:
        a, b = values
        if isinstance(a, str) and isinstance(b, str) and a != b and a.lower() == b.lower():
            return None  # differ only in case: not decided here
        return bool(a == b)
    if name in ("not", "bool") and len(values) == 1:
        flag = values[0]
        if isinstance(flag, str) and flag.lower() in ("true", "false"):
            flag = flag.lower() == "true"
        if not isinstance(flag, bool):
            return None
        return (not flag) if name == "not" else flag
    if name in ("and", "or") and values and all(isinstance(v, bool) for v in values):
        return all(values) if name == "and" else any(values)
    return None


def deployed(
    res: Mapping[str, Any], params: Mapping[str, Any], variables: Mapping[str, Any]
) -> bool:
    """False only when the resource's ``condition`` is known to be false."""
    cond = res.get("condition")
    if cond is None:
        return True
    if isinstance(cond, bool):
        return cond
    if isinstance(cond, str) and cond.startswith("[") and cond.endswith("]"):
        value = _condition(cond[1:-1], params, variables)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"  # a bool given as --parameter x=false
        return value is not False
    return True


class ArmParser:
    kind = "arm"

    def __init__(self, parameters: Mapping[str, str] | None = None) -> None:
        self.given = dict(parameters or {})

    def parse(self, document: Any, text: str, path: str) -> ParsedFile:
        params = {
            k: self.given.get(k, p.get("defaultValue"))
            for k, p in (document.get("parameters") or {}).items()
            if isinstance(p, dict) and ("defaultValue" in p or k in self.given)
        }
        raw_vars = document.get("variables")
        variables = raw_vars if isinstance(raw_vars, dict) else {}
        resolve = _Resolver(params, variables)
        index = LineIndex(text)
        cursor = 0
        out = []
        full_names: dict[int, Any] = {}  # id(resource dict) -> its full name, for children
        budget = Budget()
        for rtype, res, parent in _resources(document.get("resources")):
            raw_type = json.dumps(res["type"])
            m = re.compile(r'"type"\s*:\s*' + re.escape(raw_type)).search(text, cursor)
            line = 1
            if m:
                cursor = m.end()
                line = index.line_of(m.start())
            tables = {"parameters": params, "variables": variables}
            for inst in instances(res, resolve, tables, budget):
                if not deployed(inst, params, variables):
                    continue
                name = resolve(inst.get("name", ""))
                parent_name = full_names.get(id(parent)) if parent is not None else None
                full = _full_name(rtype, name, parent_name)
                full_names[id(res)] = full
                body = {k: v for k, v in inst.items() if k != "resources"}
                if "properties" in body:
                    props = expand_properties(body["properties"], resolve, tables, budget)
                    body["properties"] = props
                out.append(
                    Resource(
                        provider="azure",
                        type=rtype,
                        name=full if isinstance(full, str) else str(full),
                        attributes=resolve(body),
                        file=path,
                        line=line,
                        language="arm",
                        scope=path,
                        data=inst.get("existing") is True,
                    )
                )
        return ParsedFile(tuple(out), self.kind)
