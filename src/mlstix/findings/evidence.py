"""A finding's evidence as a person reads it: sentences, not Python values.

The evidence dict stays machine data in the JSON, SARIF and STIX reports; the reports people
read (HTML, Markdown) show :func:`evidence_sentence`. ``True``/``False``/``None`` read as
``true``/``false``/``not set``, lists as comma-separated values, and the IaC rules' attribute
evidence reads as one sentence::

    {"attribute": "direct_internet_access", "value": "Enabled", "provider_default": True,
     "expected": "Disabled"}
    -> "direct_internet_access: value not set; provider default is Enabled; expected Disabled"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["evidence_sentence", "evidence_value"]

_ORDER = ("attribute", "value", "provider_default", "expected")


def evidence_value(value: Any) -> str:
    """One evidence value as text."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return ", ".join(evidence_value(v) for v in items) or "none"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {evidence_value(v)}" for k, v in value.items()) or "none"
    return str(value)


def evidence_sentence(evidence: Mapping[str, Any]) -> str:
    """The whole evidence as one line of clauses separated by ``; ``."""
    clauses: list[str] = []
    if "value" in evidence or "provider_default" in evidence:
        value = evidence.get("value")
        if evidence.get("provider_default") is True:
            clause = f"value not set; provider default is {evidence_value(value)}"
        elif value is None:
            clause = "value not set"
        else:
            clause = f"value is {evidence_value(value)}"
        clauses.append(clause)
    if "expected" in evidence:
        clauses.append(f"expected {evidence_value(evidence['expected'])}")
    for key, value in sorted(evidence.items(), key=lambda kv: str(kv[0])):
        if key not in _ORDER:
            clauses.append(f"{str(key).replace('_', ' ')}: {evidence_value(value)}")
    text = "; ".join(clauses)
    attribute = evidence.get("attribute")
    if attribute is not None:
        text = f"{evidence_value(attribute)}: {text}" if text else evidence_value(attribute)
    return text
