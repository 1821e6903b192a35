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

# STIX 2.1 §2.9: the UUID part of an identifier is lower case (RFC 4122 §3 output form).
_ID = re.compile(
    r"^(?P<type>[a-z0-9][a-z0-9-]{0,248}[a-z0-9])--[0-9a-f]{8}-[0-9a-f]{4}-"
    r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
_MAX_ID = 300
# STIX 2.1 §11.1: custom property names are a-z, 0-9 and _, 3 to 250 characters.
_CUSTOM_NAME = re.compile(r"^[a-z0-9_]{3,250}$")
# Properties every object may carry (STIX 2.1 §3.2); a custom object type's others are custom.
_COMMON = frozenset(
    {
        "type", "spec_version", "id", "created_by_ref", "created", "modified", "revoked",
        "labels", "confidence", "lang", "external_references", "object_marking_refs",
        "granular_markings", "extensions", "defanged",
    }
)  # fmt: skip
MAX_DEPTH = 64  # nesting of arrays and objects inside one STIX object


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


def _depth_and_refs(obj: dict[str, Any]) -> str | None:
    """Nesting deeper than :data:`MAX_DEPTH`, or a ``*_ref``/``*_refs`` value that is not an
    identifier with a lower-case UUID; checked without recursion."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            for key, item in value.items():
                refs = [item] if key.endswith("_ref") else item if key.endswith("_refs") else ()
                for ref in refs if isinstance(refs, list) else ():
                    if isinstance(ref, str) and _ID.match(ref) is None:
                        return f"{key!r}: {ref[:300]!r} is not an identifier '<type>--<uuid>'"
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return None


def _custom_names(obj: dict[str, Any], known: frozenset[str]) -> str | None:
    bad = sorted(k for k in obj if k not in known and _CUSTOM_NAME.match(k) is None)
    if bad:
        shown = ", ".join(repr(b[:60]) for b in bad[:5])
        return f"custom property names must be 3-250 characters of a-z, 0-9 and _: {shown}"
    return None


def _stix2_problem(obj: dict[str, Any]) -> str | None:
    import stix2
    from stix2.exceptions import STIXError
    from stix2.v21.base import _Observable

    try:
        parsed = stix2.parse(obj, allow_custom=True, version="2.1")
    except (STIXError, ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # stix2 raises plain ValueError/TypeError for some malformed values.
        return str(exc)[:500] or type(exc).__name__
    if isinstance(parsed, dict):  # a custom object type: stix2 only checked its id
        return _custom_names(obj, _COMMON)
    problem = _custom_names(obj, frozenset(parsed._properties))
    if problem:
        return problem
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
    confidence = raw.get("confidence", 0)
    if type(confidence) is not int or not 0 <= confidence <= 100:  # STIX 2.1 §3.2, App. A
        return f"'confidence' must be an integer from 0 to 100, not {str(confidence)[:40]}"
    problem: str | None = _depth_and_refs(raw)
    if problem is not None:
        return problem
    try:
        body = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
        body.encode("utf-8")
    except UnicodeEncodeError:
        return "a string holds a lone surrogate (not Unicode text)"
    except (ValueError, RecursionError) as exc:
        return f"cannot be stored as JSON: {exc}"
    problem = _stix2_problem(raw)
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
        body=body,
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
