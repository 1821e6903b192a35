"""Validate STIX 2.1 content with the OASIS ``stix2-validator``.

Runs in strict mode (best-practice warnings count as errors), with ``enforce_refs`` (every
referenced object must be in the same bundle) and our extension's JSON schema
(``kb/schemas/``), and returns one :class:`Problem` per finding, naming the object id. The
validator's ``--interop`` mode is not used: its vulnerability schema is broken (DESIGN.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

__all__ = ["Problem", "schema_dir", "validate_json", "validate_path"]


@dataclass(frozen=True)
class Problem:
    severity: Literal["error", "warning"]
    object_id: str | None
    message: str

    def __str__(self) -> str:
        where = self.object_id or "(file)"
        return f"{self.severity}: {where}: {self.message}"


def schema_dir() -> Path:
    return Path(str(resources.files("mlstix.kb") / "schemas"))


_PREFIX = re.compile(r"^(?P<id>[a-z0-9-]+--[0-9a-fA-F-]{36}): ")


def _problem(severity: Literal["error", "warning"], object_id: str | None, text: str) -> Problem:
    match = _PREFIX.match(text)
    if match:
        object_id = match.group("id")
        text = text[match.end() :]
    return Problem(severity, object_id, text)


def validate_json(document: Any, *, strict: bool = True) -> list[Problem]:
    """Validate a parsed STIX document (a bundle or a single object)."""
    from stix2validator import ValidationOptions, validate_parsed_json

    options = ValidationOptions(
        version="2.1",
        strict=strict,
        enforce_refs=True,
        schema_dir=str(schema_dir()),
        silent=True,
    )
    from stix2validator.errors import ValidationError

    try:
        outcome = validate_parsed_json(document, options)
    except (ValidationError, KeyError, TypeError, AttributeError, ValueError) as exc:
        # the validator assumes well-formed JSON shapes and raises on hostile ones
        detail = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValidationError) else exc
        return [Problem("error", None, f"malformed STIX the validator cannot check ({detail})")]
    results = outcome if isinstance(outcome, list) else [outcome]
    problems: list[Problem] = []
    valid = True
    for result in results:
        valid = valid and bool(result.is_valid)
        if hasattr(result, "error"):  # ValidationErrorResults: the validator itself failed
            problems.append(Problem("error", None, str(result.error)))
            continue
        for err in result.errors or []:
            problems.append(_problem("error", result.object_id, str(err.message)))
        for warn in result.warnings or []:
            problems.append(_problem("warning", result.object_id, str(warn)))
    if not problems and not valid:
        problems.append(Problem("error", None, "the validator rejected the document"))
    return problems


def validate_path(path: Path, *, strict: bool = True) -> list[Problem]:
    """Validate a STIX file; unreadable or non-JSON input is reported as a problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem("error", None, f"cannot read {path}: {exc}")]
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return [
            Problem("error", None, f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        ]
    except RecursionError:  # json's decoder recurses once per level
        return [Problem("error", None, "not STIX: its JSON is nested too deeply")]
    shape = _shape_problems(document)
    if shape:
        return shape
    return validate_json(document, strict=strict)


def _shape_problems(document: Any) -> list[Problem]:
    """What ``stix2-validator`` cannot be given at all (it raises instead of reporting): a
    document or object that is not a JSON object with ``type`` and ``id``."""
    if not isinstance(document, dict) or "type" not in document:
        return [
            Problem(
                "error", None, "not a STIX object or bundle: expected a JSON object with 'type'"
            )
        ]
    if not isinstance(document["type"], str):
        return [Problem("error", None, "'type' is not a string")]
    if "id" not in document:
        return [Problem("error", None, f"the {document['type']:.40} has no 'id' property")]
    if document["type"] != "bundle":
        return []
    objects = document.get("objects", [])
    if not isinstance(objects, list):
        return [Problem("error", str(document["id"]), "'objects' is not a list")]
    return [
        Problem("error", None, f"object {index} of the bundle has no 'type' and 'id'")
        for index, obj in enumerate(objects)
        if not isinstance(obj, dict) or "type" not in obj or "id" not in obj
    ]
