"""Typed model of the authored knowledge base.

The YAML under ``kb/data/`` is the trust boundary: pydantic validates it here, with
``extra="forbid"`` so that a misspelt field is an error rather than silently dropped. Everything
downstream (the STIX compiler, the renderers, the scanners' rule metadata) works on these frozen
values and never on raw YAML.

Object kinds and their STIX 2.1 counterparts (STIX 2.1 §4):

- :class:`AttackPattern` → ``attack-pattern`` (§4.1); its ``targets`` become ``targets``
  relationships to vulnerabilities (§4.1, "Relationships").
- :class:`Vulnerability` → ``vulnerability`` (§4.18).
- :class:`CourseOfAction` → ``course-of-action`` (§4.3) with the cloud-guidance property
  extension (§7.3); its ``mitigates`` become ``mitigates`` relationships.
- :class:`MitreObject` → the minimal ATLAS / ATT&CK objects carried by the mappings bundle.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ATTACK_PATTERN_CATEGORIES",
    "COURSE_OF_ACTION_CATEGORIES",
    "VULNERABILITY_CATEGORIES",
    "AttackPattern",
    "Cloud",
    "CloudGuidance",
    "CodeExample",
    "CourseOfAction",
    "DocLink",
    "Edge",
    "KbObject",
    "MitreMapping",
    "MitreObject",
    "PlatformRecommendation",
    "References",
    "Vulnerability",
    "slugify",
]

_UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_ANY_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_KEY = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

ATTACK_PATTERN_CATEGORIES = {
    "model-integrity": "Model integrity",
    "data-security": "Data security",
    "infrastructure-and-pipeline": "Infrastructure and pipeline",
}
VULNERABILITY_CATEGORIES = {
    "model-security": "Model security",
    "access-control-and-infrastructure": "Access control and infrastructure",
}
COURSE_OF_ACTION_CATEGORIES = {
    "model-integrity-and-verification": "Model integrity and verification",
    "access-control-and-monitoring": "Access control and monitoring",
    "pipeline-and-infrastructure-security": "Pipeline and infrastructure security",
}


def slugify(name: str) -> str:
    """The stable key of an object: its name lowercased, words joined by ``-``.

    ``ML Model Tampering`` → ``ml-model-tampering``. Anything that is not a letter or digit
    separates words, so ``ML-Specific`` → ``ml-specific``.
    """
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))


class Cloud(StrEnum):
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"

    @property
    def title(self) -> str:  # type: ignore[override]
        return {"aws": "AWS", "azure": "Azure", "gcp": "Google Cloud"}[self.value]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


NonEmpty = Annotated[str, Field(min_length=1)]
Timestamp = Annotated[datetime, Field(description="UTC timestamp, e.g. 2025-06-01T00:00:00Z")]


class DocLink(_Strict):
    """A documentation or research reference: becomes a STIX external reference."""

    source: NonEmpty = Field(description="short source name, e.g. 'aws-docs', 'owasp'")
    title: NonEmpty
    url: Annotated[str, Field(pattern=r"^https://")]


class MitreMapping(_Strict):
    """A ``related-to`` edge from one of our objects to a MITRE ATLAS or ATT&CK object."""

    external_id: Annotated[
        str, Field(pattern=r"^(AML\.[TM]\d{4}(\.\d{3})?|T\d{4}(\.\d{3})?|M\d{4})$")
    ]
    relationship_id: Annotated[str, Field(pattern=rf"^relationship--{_UUID4}$")]
    description: NonEmpty


class References(_Strict):
    cwe: tuple[Annotated[str, Field(pattern=r"^CWE-\d+$")], ...] = ()
    owasp_ml: tuple[Annotated[str, Field(pattern=r"^ML(0[1-9]|10):2023$")], ...] = ()
    mitre: tuple[MitreMapping, ...] = ()
    links: tuple[DocLink, ...] = ()


class Edge(_Strict):
    """A relationship authored on its source object."""

    target: Annotated[str, Field(pattern=_KEY)]
    id: Annotated[str, Field(pattern=rf"^relationship--{_UUID4}$")]
    description: NonEmpty


class _Object(_Strict):
    key: Annotated[str, Field(pattern=_KEY)]
    id: str
    name: NonEmpty
    category: NonEmpty
    created: Timestamp
    modified: Timestamp
    summary: NonEmpty = Field(description="one or two sentences; used in tables and findings")
    description: NonEmpty = Field(
        description="what it is and how it happens in a cloud ML platform"
    )
    example: NonEmpty = Field(description="a realistic example")
    detection: NonEmpty = Field(description="how to detect it")
    references: References = References()

    @model_validator(mode="after")
    def _key_is_slug_of_name(self) -> _Object:
        if self.key != slugify(self.name):
            raise ValueError(
                f"key {self.key!r} is not the slug of the name: {slugify(self.name)!r}"
            )
        if self.modified < self.created:
            raise ValueError("modified is earlier than created")
        return self

    @property
    def stix_type(self) -> str:
        return self.id.split("--", 1)[0]


def _id_of(stix_type: str) -> str:
    return rf"^{stix_type}--{_UUID4}$"


class AttackPattern(_Object):
    kind: Literal["attack-pattern"] = "attack-pattern"
    id: Annotated[str, Field(pattern=_id_of("attack-pattern"))]
    aliases: tuple[NonEmpty, ...] = ()
    targets: tuple[Edge, ...] = Field(
        default=(), description="vulnerabilities this pattern exploits"
    )

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        return _check_category(value, ATTACK_PATTERN_CATEGORIES)


class Vulnerability(_Object):
    kind: Literal["vulnerability"] = "vulnerability"
    id: Annotated[str, Field(pattern=_id_of("vulnerability"))]

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        return _check_category(value, VULNERABILITY_CATEGORIES)


class CodeExample(_Strict):
    language: Literal["bash", "terraform", "json", "yaml", "python", "powershell", "bicep"]
    title: NonEmpty
    code: NonEmpty


class CloudGuidance(_Strict):
    services: tuple[NonEmpty, ...] = Field(min_length=1)
    steps: tuple[NonEmpty, ...] = Field(min_length=4)
    example: CodeExample
    references: tuple[DocLink, ...] = Field(min_length=1)


class PlatformRecommendation(_Strict):
    title: NonEmpty
    description: NonEmpty
    capabilities: tuple[NonEmpty, ...] = Field(min_length=2)


class CourseOfAction(_Object):
    kind: Literal["course-of-action"] = "course-of-action"
    id: Annotated[str, Field(pattern=_id_of("course-of-action"))]
    # The detection field of a course of action says how to verify it is in place.
    mitigates: tuple[Edge, ...] = Field(min_length=1)
    cloud: dict[Cloud, CloudGuidance]
    platform_recommendation: PlatformRecommendation
    note_ids: dict[Cloud, Annotated[str, Field(pattern=_id_of("note"))]]

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        return _check_category(value, COURSE_OF_ACTION_CATEGORIES)

    @model_validator(mode="after")
    def _every_cloud(self) -> CourseOfAction:
        for field in ("cloud", "note_ids"):
            missing = set(Cloud) - set(getattr(self, field))
            if missing:
                names = ", ".join(sorted(c.value for c in missing))
                raise ValueError(f"{field} lacks {names}")
        return self


class MitreObject(_Strict):
    """A minimal copy of a MITRE ATLAS or ATT&CK object, under its canonical STIX id."""

    external_id: Annotated[
        str, Field(pattern=r"^(AML\.[TM]\d{4}(\.\d{3})?|T\d{4}(\.\d{3})?|M\d{4})$")
    ]
    name: NonEmpty
    source: Literal["mitre-atlas", "mitre-attack"]
    id: Annotated[str, Field(pattern=rf"^(attack-pattern|course-of-action)--{_ANY_UUID}$")]
    created: Timestamp
    modified: Timestamp
    url: Annotated[str, Field(pattern=r"^https://")]
    checked: NonEmpty = Field(description="where and when the id and name were checked")

    @property
    def key(self) -> str:
        return self.external_id

    @model_validator(mode="after")
    def _source_matches_id(self) -> MitreObject:
        is_atlas = self.external_id.startswith("AML.")
        if is_atlas != (self.source == "mitre-atlas"):
            raise ValueError(f"{self.external_id} does not belong to {self.source}")
        return self


KbObject = AttackPattern | Vulnerability | CourseOfAction


def _check_category(value: str, allowed: dict[str, str]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown category {value!r}; expected one of {', '.join(allowed)}")
    return value
