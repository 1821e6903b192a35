"""Objects published by OASIS for TLP 2.0, carried verbatim in every bundle we publish.

Source: oasis-open/cti-stix-common-objects, ``extension-definition-specifications/tlp-2.0/
examples/tlp-clear.json`` (the TLP:CLEAR marking definition) and ``objects/extension-definition/
extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.json`` (the TLP 2.0 extension
definition). python-stix2 ships only the TLP 1.0 markings.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TLP2_EXTENSION_ID", "TLP2_OBJECTS", "TLP_CLEAR_ID"]

TLP_CLEAR_ID = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
_TLP_CLEAR: dict[str, Any] = {
    "type": "marking-definition",
    "spec_version": "2.1",
    "id": TLP_CLEAR_ID,
    "created": "2022-10-01T00:00:00.000Z",
    "name": "TLP:CLEAR",
    "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": "clear"}},
}
_CISA_IDENTITY_ID = "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01"
_TLP2_EXTENSION: dict[str, Any] = {
    "id": TLP2_EXTENSION_ID,
    "type": "extension-definition",
    "spec_version": "2.1",
    "name": "TLP 2.0",
    "description": "This defines TLP 2.0 as a STIX extension",
    "created": "2022-10-01T00:00:00.000Z",
    "modified": "2022-10-01T00:00:00.000Z",
    "created_by_ref": _CISA_IDENTITY_ID,
    "schema": "https://github.com/oasis-open/cti-stix-common-objects/tree/master/extension-definition-specifications/tlp-2.0",
    "version": "1.0.0",
    "extension_types": ["property-extension"],
}
# The TLP 2.0 extension definition is created by CISA. OASIS publishes no STIX object for that
# identity; this minimal one exists so that the reference resolves inside our bundles.
_CISA_IDENTITY: dict[str, Any] = {
    "type": "identity",
    "spec_version": "2.1",
    "id": _CISA_IDENTITY_ID,
    "created": "2022-10-01T00:00:00.000Z",
    "modified": "2022-10-01T00:00:00.000Z",
    "name": "Cybersecurity and Infrastructure Security Agency",
    "identity_class": "organization",
    "sectors": ["government-national"],
}

# The marking, the extension definition it names, and the identity that created the latter.
TLP2_OBJECTS: tuple[dict[str, Any], ...] = (_TLP_CLEAR, _TLP2_EXTENSION, _CISA_IDENTITY)
