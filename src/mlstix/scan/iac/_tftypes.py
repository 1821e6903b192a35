"""Terraform values: errors, unknowns, and the type conversions of the language.

Conversions follow the Terraform language reference ("Type Constraints", "Conversion of
Primitive Types"): numbers and bools convert to strings and back; ``--var`` values are strings
for primitive types and HCL expressions otherwise; an object type constraint fills the
``optional(type, default)`` attributes a value leaves out.
"""

from __future__ import annotations

from typing import Any

from mlstix.scan.iac._hcl import Node, parse_expression
from mlstix.scan.iac._values import Expr

__all__ = [
    "EvalError",
    "LimitError",
    "Unknown",
    "cli_value",
    "equal",
    "has_unknown",
    "to_bool",
    "to_number",
    "to_string",
    "typed",
    "unknown",
]


class EvalError(ValueError):
    """What Terraform would refuse: the expression has no value."""


class LimitError(EvalError):
    """A bound of the evaluator (steps, collection or string size) was reached: the value is
    left unknown and the scan reports it, since Terraform itself would compute it."""


class Unknown(Exception):
    """Raised by a function whose result depends on an unknown element."""


def unknown(src: str) -> Expr:
    text = src.strip()
    return Expr(text if text.startswith("${") and text.endswith("}") else "${" + text + "}")


def to_string(value: Any) -> str:
    """Terraform's string conversion of a primitive (templates, ``tostring``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int | str):
        return str(value)
    if value is None:
        raise EvalError("null value in a string")
    raise EvalError("a collection cannot be used as a string")


def to_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise EvalError("a bool is not a number")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                raise EvalError(f"{value!r} is not a number") from None
    raise EvalError("not a number")


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value == "true" or value == "false":
        return bool(value == "true")
    raise EvalError(f"{value!r} is not a bool")


def has_unknown(value: Any, depth: int = 0) -> bool:
    if isinstance(value, Expr):
        return True
    if depth > 64:
        return False
    if isinstance(value, dict):
        return any(has_unknown(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v, depth + 1) for v in value)
    return False


def equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def cli_value(text: str, type_expr: Any) -> Any:
    """``--var NAME=VALUE``: a string for primitive types, an HCL expression for the others."""
    kind = type_expr.args[0] if isinstance(type_expr, Node) and type_expr.kind == "var" else None
    if type_expr is None or kind in ("string", "number", "bool"):
        return typed(text, type_expr) if type_expr is not None else text
    try:
        value = parse_expression(text)
    except ValueError:
        return text
    return text if isinstance(value, Node) else value


def typed(value: Any, type_expr: Any, depth: int = 0) -> Any:
    """Convert ``value`` to a type constraint: primitives, and optional object attributes."""
    if isinstance(value, Expr) or value is None or depth > 32 or not isinstance(type_expr, Node):
        return value
    try:
        if type_expr.kind == "var":
            kind = type_expr.args[0]
            if kind == "string" and not isinstance(value, list | dict):
                return to_string(value)
            if kind == "number" and isinstance(value, str):
                return to_number(value)
            if kind == "bool" and isinstance(value, str):
                return to_bool(value)
            return value
        if type_expr.kind != "call" or not type_expr.args[1]:
            return value
        name, args = type_expr.args[0], type_expr.args[1]
        if name in ("map", "list", "set") and isinstance(value, dict | list):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            converted = {k: typed(v, args[0], depth + 1) for k, v in items}
            return converted if isinstance(value, dict) else list(converted.values())
        if name == "object" and isinstance(value, dict) and isinstance(args[0], dict):
            out = dict(value)
            for attr, attr_type in args[0].items():
                inner = attr_type
                if (
                    isinstance(attr_type, Node)
                    and attr_type.kind == "call"
                    and (attr_type.args[0] == "optional")
                ):
                    opt = attr_type.args[1]
                    inner = opt[0] if opt else None
                    if attr not in out or out[attr] is None:
                        out[attr] = (
                            opt[1] if len(opt) > 1 and not isinstance(opt[1], Node) else None
                        )
                if attr in out:
                    out[attr] = typed(out[attr], inner, depth + 1)
            return out
    except EvalError:
        return value
    return value
