"""Values the TAXII store takes and returns: collections, filters, pages, status records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlstix.taxii._time import format_us

__all__ = [
    "CollectionInfo",
    "Filters",
    "Page",
    "StatusRecord",
    "StoredObject",
    "VersionFilter",
]


@dataclass(frozen=True)
class CollectionInfo:
    id: str
    title: str
    description: str
    alias: str | None
    writable: bool


@dataclass(frozen=True)
class VersionFilter:
    """``match[version]``: any of first, last, all, or exact timestamps (µs)."""

    all: bool = False
    first: bool = False
    last: bool = True
    timestamps: tuple[int, ...] = ()


@dataclass(frozen=True)
class Filters:
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    spec_versions: tuple[str, ...] = ()
    versions: VersionFilter = field(default_factory=VersionFilter)
    added_after: int | None = None


@dataclass(frozen=True)
class StoredObject:
    object_id: str
    version_text: str
    date_added: int
    body: str


@dataclass(frozen=True)
class Page:
    items: tuple[StoredObject, ...]
    more: bool

    @property
    def last_key(self) -> tuple[int, str] | None:
        if not self.items:
            return None
        return self.items[-1].date_added, self.items[-1].object_id


@dataclass(frozen=True)
class StatusRecord:
    id: str
    collection_id: str
    owner: str | None
    request_timestamp: int
    successes: tuple[dict[str, str], ...]
    failures: tuple[dict[str, str], ...]
    success_count: int = -1  # -1: len(successes); larger when the details were capped
    failure_count: int = -1

    def resource(self) -> dict[str, Any]:
        """The TAXII status resource (§4.3.1). Writes are synchronous: always complete.

        The counts are exact; the lists hold at most the server's ``max_status_details``
        entries each (TAXII lists them as optional)."""
        ok = len(self.successes) if self.success_count < 0 else self.success_count
        failed = len(self.failures) if self.failure_count < 0 else self.failure_count
        return {
            "id": self.id,
            "status": "complete",
            "request_timestamp": format_us(self.request_timestamp),
            "total_count": ok + failed,
            "success_count": ok,
            "successes": list(self.successes),
            "failure_count": failed,
            "failures": list(self.failures),
            "pending_count": 0,
            "pendings": [],
        }
