"""Sigma rules to DuckDB SQL: pySigma's SQLite backend, adapted to DuckDB and to raw JSON events.

The conversion is pySigma's (parsing, modifiers, condition trees, value escaping, wildcards):
:class:`DuckDBBackend` subclasses ``sigma.backends.sqlite.sqliteBackend`` and changes only what
differs in DuckDB and in our table:

- Sigma matches strings case-insensitively unless ``|cased``: equality and ``LIKE`` become
  ``ILIKE`` (SQLite's ``LIKE`` ignores ASCII case, DuckDB's does not; SQLite's ``=`` is
  case-sensitive, which the Sigma specification does not allow).
- Events are not columns but JSON values. Every field a rule names becomes a slot ``f[i]`` of a
  list that the query extracts once per event with ``json_extract_string(ev, [paths])``, so each
  event is parsed once however many rules and fields there are.
- Regular expressions use ``regexp_matches``; field existence is ``IS NOT NULL``.
- A field with Splunk's array notation, ``resources{}.ARN`` or ``requestParameters.x-amz-acl{}``,
  means *any element*: the list is a slot like any field, and the condition is evaluated on each
  element its JSON path ``$[*]."ARN"`` yields, true when one element satisfies it (an object or a
  string where a list is named yields nothing, as in Splunk, where its field has no ``{}``).

The finished query of a rule is its ``WHERE`` condition alone; :mod:`._engine` combines the rules
of one log source into one scan.
"""

from __future__ import annotations

import copy
import re
from typing import Any, ClassVar

from sigma.backends.sqlite.sqlite import sqliteBackend
from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

__all__ = ["DuckDBBackend", "json_path"]


def json_path(field: str) -> str:
    """``userIdentity.arn`` → ``$."userIdentity"."arn"`` (every segment quoted, so keys such as
    ``detail-type`` need no special case); ``resources{}.ARN`` → ``$."resources"[*]."ARN"``."""
    out = "$"
    for part in field.split("."):
        array = part.endswith("{}")
        name = part[:-2] if array else part
        out += '."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"' + ("[*]" * array)
    return out


# the field name an element of an array stands for while its condition is converted
_ELEMENT = "\x00element"


class DuckDBBackend(sqliteBackend):
    """pySigma's SQLite backend speaking DuckDB over a list of extracted JSON fields."""

    name: ClassVar[str] = "mlstix DuckDB backend"

    # Plain values (no wildcard, no backslash) compare with ILIKE: exact, but case-insensitive.
    eq_token: ClassVar[str] = " ILIKE "  # noqa: S105 (an SQL operator, not a password)
    eq_expression: ClassVar[str] = "coalesce({field} ILIKE {value}, false)"
    startswith_expression: ClassVar[str] = "{field} ILIKE '{value}%' ESCAPE '\\'"
    endswith_expression: ClassVar[str] = "{field} ILIKE '%{value}' ESCAPE '\\'"
    contains_expression: ClassVar[str] = "{field} ILIKE '%{value}%' ESCAPE '\\'"
    wildcard_match_expression: ClassVar[str] = "{field} ILIKE '{value}' ESCAPE '\\'"
    wildcard_match_str_expression: ClassVar[str] = "{field} ILIKE '{value}' ESCAPE '\\'"
    re_expression: ClassVar[str] = "coalesce(regexp_matches({field}, '{regex}'), false)"
    field_exists_expression: ClassVar[str] = "{field} IS NOT NULL"
    field_not_exists_expression: ClassVar[str] = "{field} IS NULL"
    compare_op_expression: ClassVar[str] = (
        "coalesce(TRY_CAST({field} AS DOUBLE) {operator} {value}, false)"
    )
    field_null_expression: ClassVar[str] = "{field} IS NULL"

    def __init__(self, slots: dict[str, int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slots = slots

    # coalesce(…, false): a field the event lacks makes a comparison false, not NULL, so that
    # "not filter" matches events without the filter's field, as Sigma requires.
    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        expr = super().convert_condition_field_eq_val_str(cond, state)
        return f"coalesce({expr}, false)" if isinstance(expr, str) else expr

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        expr = super().convert_condition_field_eq_val_str_case_sensitive(cond, state)
        return f"coalesce({expr}, false)" if isinstance(expr, str) else expr

    def convert_condition_field_eq_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        if cond.field is None or "{}" not in cond.field:
            return super().convert_condition_field_eq_val(cond, state)
        # any element: the condition on each element x, true when one holds
        element = copy.copy(cond)
        element.field = _ELEMENT
        expr = super().convert_condition_field_eq_val(element, state)
        # the list itself is a slot (its JSON text, extracted with every other field in one parse
        # of the event); only that text is parsed again for its elements. A plain string there
        # (not JSON) has no elements.
        head, _, rest = cond.field.partition("{}")
        inner = "$[*]" + json_path(rest.lstrip(".")).removeprefix("$") if rest else "$[*]"
        path = "'" + inner.replace("'", "''") + "'"
        lst = self.escape_and_quote_field(head)
        items = f"CASE WHEN json_valid({lst}) THEN json_extract_string({lst}, {path}) END"
        return f"coalesce(list_bool_or([{expr} for x in {items}]), false)"

    def escape_and_quote_field(self, field_name: str) -> str:
        if field_name == _ELEMENT:
            return "x"
        index = self.slots.setdefault(field_name, len(self.slots) + 1)
        return f"f[{index}]"

    def finalize_query_default(
        self,
        rule: SigmaRule | SigmaCorrelationRule,
        query: str,
        index: int,
        state: ConversionState,
    ) -> str:
        return query


_SLOT = re.compile(r"f\[(\d+)\]")


def slots_used(sql: str) -> set[int]:
    return {int(m) for m in _SLOT.findall(sql)}
