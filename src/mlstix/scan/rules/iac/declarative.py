"""Evaluation of declarative checks (:class:`~mlstix.scan.rules.iac.model.Check`).

An attribute that is absent takes the condition's ``default`` (the provider's default). A value
the parser could not resolve (an :class:`~mlstix.scan.iac._values.Expr`) is unknown and never
fails a condition: the scanner reports what it can show, not what it guesses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup, norm
from mlstix.scan.rules.iac.model import Condition

__all__ = ["Failure", "evaluate_condition"]


@dataclass(frozen=True)
class Failure:
    """Why a condition failed, for the finding's message and evidence."""

    path: str
    value: Any
    defaulted: bool
    op: str
    expected: Any

    def describe(self) -> str:
        shown = "absent" if self.value is None else _show(self.value)
        if self.defaulted and self.value is not None:
            shown = f"not set, so the provider default {_show(self.value)} applies"
        elif self.defaulted:
            shown = "not set"
        exp = self.expected
        listed = ", ".join(_show(e) for e in exp) if isinstance(exp, list | tuple) else _show(exp)
        want = {
            "equals": f"expected {_show(exp)}",
            "not_equals": f"must not be {_show(exp)}",
            "in": f"expected one of {listed}",
            "not_in": f"must not be one of {listed}",
            "set": "expected a value",
            "gte": f"expected at least {_show(exp)}",
            "matches": f"expected to match {_show(exp)}",
            "not_matches": f"must not match {_show(exp)}",
            "all_true": "expected every flag to be true",
        }[self.op]
        return f"{self.path} is {shown}; {want}"

    def evidence(self) -> dict[str, Any]:
        value = self.value
        if not isinstance(value, str | int | float | bool | type(None)):
            value = str(value)
        expected = self.expected
        if isinstance(expected, tuple):
            expected = list(expected)
        return {
            "attribute": self.path,
            "value": value,
            "provider_default": self.defaulted,
            "expected": expected,
        }


def _show(value: Any) -> str:
    """A value as the configuration writes it: ``true``, ``"Enabled"``, ``5``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return '"' + value + '"'
    return str(value)


def _holds(op: str, value: Any, expected: Any) -> bool:
    if op == "set":
        return value not in (None, "", [], {})
    if op == "all_true":
        return isinstance(value, Mapping) and all(
            norm(value.get(k)) is True or is_unknown(value.get(k)) for k in expected
        )
    v = norm(value)
    if op == "equals":
        return bool(v == norm(expected))
    if op == "not_equals":
        return bool(v != norm(expected))
    if op == "in":
        return v in [norm(e) for e in expected]
    if op == "not_in":
        return v not in [norm(e) for e in expected]
    if op == "gte":
        return isinstance(value, int | float) and not isinstance(value, bool) and value >= expected
    if op in ("matches", "not_matches"):
        found = isinstance(value, str) and re.search(str(expected), value) is not None
        return found if op == "matches" else not found
    raise ValueError(f"unknown operator {op!r}")


def evaluate_condition(cond: Condition, attributes: Mapping[str, Any]) -> Failure | None:
    """None when ``cond`` holds (or cannot be decided); the failure otherwise."""
    if cond.any:
        failures = []
        for alt in cond.any:
            failed = evaluate_condition(alt, attributes)
            if failed is None:
                return None
            failures.append(failed)
        return failures[0]
    value = lookup(attributes, cond.path)
    defaulted = value is None
    if defaulted:
        value = cond.default
    if is_unknown(value):
        return None
    if _holds(cond.op, value, cond.expected):
        return None
    return Failure(cond.path, value, defaulted, cond.op, cond.expected)
