"""A JSON Schema of the ATT&CK/ATLAS Navigator layer format 4.5, and a check against it.

Written from the Navigator's layer format 4.5 specification; every layer mlstix writes is
checked with :func:`validate_layer` before it leaves the program.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LAYER_SCHEMA", "validate_layer"]

_COLOR = {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"}
_META = {
    "type": "array",
    "items": {
        "oneOf": [
            {
                "type": "object",
                "required": ["name", "value"],
                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["divider"],
                "properties": {"divider": {"type": "boolean"}},
                "additionalProperties": False,
            },
        ]
    },
}
LAYER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ATT&CK Navigator layer, format 4.5 (structure)",
    "type": "object",
    "required": ["name", "domain", "versions"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "domain": {"enum": ["enterprise-attack", "mobile-attack", "ics-attack", "atlas-atlas"]},
        "versions": {
            "type": "object",
            "required": ["layer", "navigator"],
            "properties": {
                "layer": {"const": "4.5"},
                "navigator": {"type": "string", "pattern": r"^(4\.(9|\d\d)|[5-9])(\.\d+)*$"},
                "attack": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "sorting": {"enum": [0, 1, 2, 3]},
        "hideDisabled": {"type": "boolean"},
        "layout": {"type": "object"},
        "selectTechniquesAcrossTactics": {"type": "boolean"},
        "selectSubtechniquesWithParent": {"type": "boolean"},
        "techniques": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["techniqueID"],
                "properties": {
                    "techniqueID": {
                        "type": "string",
                        "pattern": r"^(AML\.T\d{4}|T\d{4})(\.\d{3})?$",
                    },
                    "tactic": {"type": "string"},
                    "comment": {"type": "string"},
                    "enabled": {"type": "boolean"},
                    "score": {"type": "number"},
                    "color": _COLOR,
                    "metadata": _META,
                    "showSubtechniques": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
        },
        "gradient": {
            "type": "object",
            "required": ["colors", "minValue", "maxValue"],
            "properties": {
                "colors": {"type": "array", "items": _COLOR, "minItems": 2},
                "minValue": {"type": "number"},
                "maxValue": {"type": "number"},
            },
            "additionalProperties": False,
        },
        "legendItems": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["label", "color"],
                "properties": {"label": {"type": "string"}, "color": _COLOR},
                "additionalProperties": False,
            },
        },
        "metadata": _META,
    },
}


def validate_layer(layer: Any) -> list[str]:
    """Problems of ``layer`` against the 4.5 format; an empty list means it is well formed."""
    from jsonschema import Draft202012Validator

    problems = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}"
        for e in sorted(Draft202012Validator(LAYER_SCHEMA).iter_errors(layer), key=str)
    ]
    if not problems:
        gradient = layer.get("gradient")
        if gradient and not gradient["maxValue"] > gradient["minValue"]:
            problems.append("gradient: maxValue must be greater than minValue")
        ids = [t["techniqueID"] for t in layer.get("techniques", []) if "tactic" not in t]
        if len(ids) != len(set(ids)):
            problems.append("techniques: a technique appears twice without a tactic")
    return problems
