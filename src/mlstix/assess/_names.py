"""Names the providers define, checked before any credential is looked up or any call is sent:
an id that cannot be valid is one line and exit 2, never an API error after the first call.

- Azure subscription ids are GUIDs; resource group names are 1-90 letters, digits and
  ``_ ( ) - .``, not ending in ``.`` (Azure Resource Manager naming rules).
- Google Cloud project ids are 6-30 lowercase letters, digits and hyphens, a letter first and no
  trailing hyphen, with an optional legacy ``domain:`` prefix (Resource Manager ``Project``);
  Vertex AI locations look like ``us-central1``.

Checked with ``fullmatch``: ``$`` in a pattern also matches before a final newline, so
``"<guid>\\n"`` or ``"ml-prod-4821\\n"`` would pass a ``match`` and reach the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mlstix.errors import UsageError

__all__ = ["check_azure", "check_gcp"]

_GUID = re.compile(r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_RESOURCE_GROUP = re.compile(r"[-\w.()]{0,89}[-\w()]", re.ASCII)
_PROJECT = re.compile(r"(?:[a-z0-9.-]{1,63}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
_LOCATION = re.compile(r"[a-z]+-[a-z]+[0-9]{1,2}")


def _check(values: Iterable[str], pattern: re.Pattern[str], what: str, hint: str) -> None:
    for value in values:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            shown = "an empty string" if value == "" else repr(value)
            raise UsageError(f"{shown} is not {what}", hint=hint)


def check_azure(subscription: str, resource_groups: Iterable[str]) -> None:
    _check(
        [subscription],
        _GUID,
        "an Azure subscription id (a GUID)",
        "`az account list --query [].id -o tsv` lists the subscription ids you can read",
    )
    _check(
        resource_groups,
        _RESOURCE_GROUP,
        "an Azure resource group name",
        "`az group list --query [].name -o tsv` lists them",
    )


def check_gcp(project: str, locations: Iterable[str]) -> None:
    _check(
        [project],
        _PROJECT,
        "a Google Cloud project id",
        "pass the project id (`gcloud projects list` shows PROJECT_ID), not its name or number",
    )
    _check(locations, _LOCATION, "a Vertex AI region like us-central1", "pass --location REGION")
