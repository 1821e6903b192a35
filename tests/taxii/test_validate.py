"""Each posted object is validated on its own as STIX 2.1; a rejection names the problem."""

from __future__ import annotations

from typing import Any

import pytest
from taxii_support import indicator

from mlstix.taxii.validate import ValidObject, validate_object


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        ([1], "expected a JSON object"),
        ({"id": "indicator--x"}, "missing 'type'"),
        ({"type": "indicator"}, "missing 'id'"),
        (indicator(1, id="malware--00000000-0000-4000-8000-000000000001"), "is not 'indicator--"),
        (indicator(1, spec_version="2.0"), "spec_version '2.0' is not supported"),
        (indicator(1, created="2026-03-01T00:00:00Z"), "'modified' is earlier than 'created'"),
        (indicator(1, modified="last tuesday"), "'modified'"),
        (indicator(1, pattern="[file:name = "), "pattern"),
        (indicator(1, valid_from=None), "null values are not allowed in STIX"),
        ({k: v for k, v in indicator(1).items() if k != "valid_from"}, "valid_from"),
        ({k: v for k, v in indicator(1).items() if k != "created"}, "missing required prop"),
        ({k: v for k, v in indicator(1).items() if k != "spec_version"}, "spec_version"),
        ({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000001"}, "a bundle"),
        (
            {
                "type": "relationship",
                "spec_version": "2.1",
                "id": "relationship--00000000-0000-4000-8000-000000000001",
                "created": "2026-01-01T00:00:00Z",
                "modified": "2026-01-01T00:00:00Z",
                "relationship_type": "uses",
                "source_ref": "not-an-id",
                "target_ref": "x",
            },
            "source_ref",
        ),
        # Gaps of the default mode found in the field trial (issue 11).
        (indicator(1, confidence=1000), "'confidence' must be an integer from 0 to 100"),
        (indicator(1, confidence=-1), "'confidence'"),
        (indicator(1, confidence=True), "'confidence'"),
        (indicator(1, confidence=50.5), "'confidence'"),
        (indicator(1, xy="two letters"), "custom property names must be 3-250"),
        (indicator(1, x_Upper=1), "'x_Upper'"),
        (indicator(1, **{"x-dash": 1}), "'x-dash'"),
        (indicator(1, **{"x" * 251: 1}), "custom property names"),
        (
            indicator(1, id="indicator--0B2C1D3E-4F50-4A6B-8C7D-9E0F1A2B3C4D"),
            "is not 'indicator--<UUID>'",
        ),
        (
            indicator(1, created_by_ref="identity--0B2C1D3E-4F50-4A6B-8C7D-9E0F1A2B3C4D"),
            "'created_by_ref'",
        ),
        (
            indicator(1, object_marking_refs=["marking-definition--ABCDEF00-0000-4000-8000-0"]),
            "'object_marking_refs'",
        ),
        (indicator(1, name="lone \ud800 surrogate"), "lone surrogate"),
        (indicator(1, x_deep=_nested(100)), "nested more than 64 levels"),
    ],
)
def test_rejections_name_the_problem(obj: Any, needle: str) -> None:
    result = validate_object(obj)
    assert isinstance(result, str), result
    assert needle in result


def test_valid_objects_keep_their_json_and_version() -> None:
    obj = indicator(1, x_custom_score=7)  # custom properties are allowed (STIX 2.1 §11.1)
    result = validate_object(obj)
    assert isinstance(result, ValidObject)
    assert (result.object_id, result.type, result.version_text) == (
        obj["id"],
        "indicator",
        obj["modified"],
    )
    sco = {
        "type": "ipv4-addr",
        "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
        "value": "198.51.100.3",
    }
    unversioned = validate_object(sco)
    assert isinstance(unversioned, ValidObject) and unversioned.version is None


@pytest.mark.parametrize(
    ("extra", "needle"),
    [({"lang": "not a tag!"}, "RFC 5646")],
)
def test_full_validation_adds_the_oasis_validator(extra: dict[str, Any], needle: str) -> None:
    """What the stix2 library lets through and only `--full-validation` catches."""
    obj = indicator(2, **extra)
    assert isinstance(validate_object(obj), ValidObject)
    full = validate_object(obj, full=True)
    assert isinstance(full, str) and needle in full


def test_custom_properties_of_three_or_more_characters_are_stored() -> None:
    result = validate_object(indicator(3, x_mlstix_rule="ml-001", abc=1, confidence=100))
    assert isinstance(result, ValidObject), result
    custom_type = {
        "type": "x-mlstix-thing",
        "spec_version": "2.1",
        "id": "x-mlstix-thing--0b2c1d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
        "created": "2026-01-01T00:00:00Z",
        "modified": "2026-01-01T00:00:00Z",
        "x_size": 3,
    }
    assert isinstance(validate_object(custom_type), ValidObject)
    assert "custom property" in str(validate_object({**custom_type, "ab": 1}))
