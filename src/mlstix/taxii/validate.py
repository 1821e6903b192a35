"""Validation of the STIX objects a client POSTs (TAXII 2.1 §5.4, STIX 2.1).

Each object is checked on its own: the ``stix2`` library parses it as STIX 2.1 (required
properties, property types, identifier syntax, STIX patterns, vocabularies it enforces), custom
properties and custom object types are allowed as STIX 2.1 §11 allows them, and we add what the
library lets through: an ``id`` must be present and match ``type``, ``modified`` must not be
earlier than ``created``, only STIX 2.1 is accepted. With ``full=True`` the OASIS
``stix2-validator`` also runs (lax mode, references not enforced because a finding refers to
knowledge-base objects stored elsewhere); it costs ~3 ms per object, so it is a setting.

A failure is a message naming the property; the server reports it in the status resource.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mlstix.taxii._time import parse_timestamp

__all__ = ["ValidObject", "validate_all", "validate_object"]

_ID = re.compile(
    r"^(?P<type>[a-z0-9][a-z0-9-]{0,248}[a-z0-9])--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_MAX_ID = 300


@dataclass(frozen=True)
class ValidObject:
    """A validated object, ready to store."""

    object_id: str
    type: str
    spec_version: str
    version: int | None  # microseconds of modified/created; None: versioned by date_added
    version_text: str | None
    body: str  # compact JSON, as the client sent it


# Required by STIX 2.1 but silently filled in by the stix2 library when absent.
_DEFAULTED_REQUIRED = ("created", "modified", "valid_from")


def _stix2_problem(obj: dict[str, Any]) -> str | None:
    import stix2
    from stix2.exceptions import STIXError
    from stix2.v21.base import _Observable

    try:
        parsed = stix2.parse(obj, allow_custom=True, version="2.1")
    except (STIXError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # stix2 raises plain ValueError/TypeError for some malformed values.
        return str(exc) or type(exc).__name__
    if isinstance(parsed, dict):  # a custom object type: stix2 only checked its id
        return None
    added = set(parsed) - set(obj)
    missing = [p for p in _DEFAULTED_REQUIRED if p in added]
    if "spec_version" in added and not isinstance(parsed, _Observable):
        missing.append("spec_version")
    if missing:
        return f"missing required properties: {', '.join(missing)}"
    return None


def _validator_problem(obj: dict[str, Any]) -> str | None:
    from stix2validator import ValidationOptions, validate_instance
    from stix2validator.errors import ValidationError

    options = ValidationOptions(version="2.1", strict=False, silent=True)
    try:
        result = validate_instance(obj, options)
    except ValidationError as exc:
        return str(exc)
    if result.is_valid:
        return None
    return "; ".join(str(e) for e in result.errors) or "rejected by stix2-validator"


def validate_object(raw: Any, *, full: bool = False) -> ValidObject | str:
    """The object ready to store, or a message saying what is wrong with it."""
    if not isinstance(raw, dict):
        return "not a STIX object: expected a JSON object"
    object_id = raw.get("id")
    obj_type = raw.get("type")
    if not isinstance(obj_type, str) or not obj_type:
        return "missing 'type'"
    if obj_type == "bundle":
        return "a bundle cannot be stored as an object: post its objects"
    if not isinstance(object_id, str) or len(object_id) > _MAX_ID:
        return "missing 'id'"
    match = _ID.match(object_id)
    if match is None or match.group("type") != obj_type:
        return f"'id' {object_id!r} is not '{obj_type}--<UUID>'"
    spec_version = raw.get("spec_version", "2.1")
    nulls = sorted(k for k, v in raw.items() if v is None)
    if nulls:
        return f"null values are not allowed in STIX (leave the property out): {', '.join(nulls)}"
    if spec_version != "2.1":
        return f"spec_version {spec_version!r} is not supported: this server stores STIX 2.1"
    stamps: dict[str, int] = {}
    for prop in ("created", "modified"):
        if prop in raw:
            try:
                stamps[prop] = parse_timestamp(raw[prop])
            except ValueError as exc:
                return f"'{prop}': {exc}"
    if "created" in stamps and "modified" in stamps and stamps["modified"] < stamps["created"]:
        return "'modified' is earlier than 'created'"
    problem: str | None = _stix2_problem(raw)
    if problem is None and full:
        problem = _validator_problem(raw)
    if problem is not None:
        return problem
    source = "modified" if "modified" in stamps else "created" if "created" in stamps else None
    return ValidObject(
        object_id=object_id,
        type=obj_type,
        spec_version="2.1",
        version=stamps[source] if source else None,
        version_text=raw[source] if source else None,
        body=json.dumps(raw, ensure_ascii=False, separators=(",", ":")),
    )


def validate_all(
    raw: list[Any], *, full: bool
) -> tuple[list[ValidObject], list[tuple[str | None, str]]]:
    valid: list[ValidObject] = []
    rejected: list[tuple[str | None, str]] = []
    for item in raw:
        result = validate_object(item, full=full)
        if isinstance(result, str):
            oid = item.get("id") if isinstance(item, dict) else None
            rejected.append((oid if isinstance(oid, str) else None, result))
        else:
            valid.append(result)
    return valid, rejected
