"""The objects every bundle of the knowledge base carries: the mlstix identity (STIX 2.1 §4.7)
and the extension definition of the cloud-guidance property extension (§7.3), with their fixed
ids, so that each bundle file stands alone under ``stix2-validator --enforce-refs``."""

from __future__ import annotations

from typing import Any

import stix2

from mlstix.kb._oasis import TLP_CLEAR_ID

__all__ = [
    "CLOUD_GUIDANCE_EXTENSION_ID",
    "IDENTITY_ID",
    "PROJECT_EPOCH",
    "PROJECT_URL",
    "REPORT_ID",
    "SCHEMA_URL",
    "extension_definition",
    "identity",
]

PROJECT_URL = "https://github.com/mlstix/mlstix"
SCHEMA_URL = (
    f"{PROJECT_URL}/blob/main/src/mlstix/kb/schemas/"
    "extension-definition--743077e1-e9eb-45cf-87b5-d1d4f7cd9839.json"
)

IDENTITY_ID = "identity--88ec7a32-9b41-4623-abf6-2a61da8b85f2"
CLOUD_GUIDANCE_EXTENSION_ID = "extension-definition--743077e1-e9eb-45cf-87b5-d1d4f7cd9839"
REPORT_ID = "report--41cec861-748a-4491-91e5-a8e6af9babb4"
PROJECT_EPOCH = "2026-11-26T00:00:00.000Z"


def identity() -> Any:
    return stix2.Identity(
        id=IDENTITY_ID,
        created=PROJECT_EPOCH,
        modified=PROJECT_EPOCH,
        created_by_ref=IDENTITY_ID,
        object_marking_refs=[TLP_CLEAR_ID],
        name="mlstix",
        identity_class="organization",
        description=(
            "The mlstix project: a STIX 2.1 knowledge base and tools for the security of "
            "machine-learning models in cloud environments."
        ),
        contact_information=PROJECT_URL,
    )


def extension_definition() -> Any:
    return stix2.ExtensionDefinition(
        id=CLOUD_GUIDANCE_EXTENSION_ID,
        created=PROJECT_EPOCH,
        modified=PROJECT_EPOCH,
        created_by_ref=IDENTITY_ID,
        object_marking_refs=[TLP_CLEAR_ID],
        name="mlstix cloud implementation guidance",
        description=(
            "Implementation guidance for AWS, Azure and Google Cloud, and a platform-level "
            "recommendation, on a course of action. The same guidance is published as notes."
        ),
        schema=SCHEMA_URL,
        version="1.0.0",
        extension_types=["property-extension"],
    )
