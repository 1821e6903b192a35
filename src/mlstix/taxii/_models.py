"""Pydantic models of the TAXII 2.1 resources, for the OpenAPI document only.

The server writes its JSON directly (it is faster than building models); these describe it so
that clients and fuzzers (schemathesis) know the shapes: discovery (§4.1.1), API root (§4.2.1),
status (§4.3.1), collections (§5.1.1), collection (§5.2.1), envelope (§3.7), manifest (§5.6.1),
versions (§5.9.1) and the error message (§3.6.1).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ApiRootModel",
    "CollectionModel",
    "CollectionsModel",
    "DiscoveryModel",
    "EnvelopeModel",
    "ErrorModel",
    "ManifestModel",
    "StatusModel",
    "VersionsModel",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class DiscoveryModel(_Open):
    title: str
    description: str | None = None
    contact: str | None = None
    default: str | None = None
    api_roots: list[str] = []


class ApiRootModel(_Open):
    title: str
    description: str | None = None
    versions: list[str]
    max_content_length: int


class _StatusDetail(_Open):
    id: str
    version: str | None = None
    message: str | None = None


class StatusModel(_Open):
    id: str
    status: Literal["complete", "pending"]
    request_timestamp: str | None = None
    total_count: int
    success_count: int
    successes: list[_StatusDetail] = []
    failure_count: int
    failures: list[_StatusDetail] = []
    pending_count: int
    pendings: list[_StatusDetail] = []


class CollectionModel(_Open):
    id: str
    title: str
    description: str | None = None
    alias: str | None = None
    can_read: bool
    can_write: bool
    media_types: list[str] = []


class CollectionsModel(_Open):
    collections: list[CollectionModel] = []


class EnvelopeModel(_Open):
    more: bool | None = None
    next: str | None = None
    objects: list[dict[str, Any]] = []


class _ManifestRecord(_Open):
    id: str
    date_added: str
    version: str
    media_type: str | None = None


class ManifestModel(_Open):
    more: bool | None = None
    next: str | None = None
    objects: list[_ManifestRecord] = []


class VersionsModel(_Open):
    more: bool | None = None
    next: str | None = None
    versions: list[str] = []


class ErrorModel(_Open):
    title: str
    description: str | None = None
    error_id: str | None = None
    error_code: str | None = None
    http_status: str | None = None
    external_details: str | None = None
    details: dict[str, Any] | None = None
