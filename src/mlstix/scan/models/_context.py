"""The types every analyzer shares: the :class:`Source` it reads, the :class:`Context` it
reports into, the :class:`Limits` of one scan, and the :class:`Hit` it reports.

Analyzers run in worker processes without the knowledge base; a hit names its rule and says
what was found. The engine adds the rule's severity, the KB title and the courses of action.
Format recognition (:mod:`._sniff`) and the analyzers (:mod:`.formats`, :mod:`.pickles`)
import this module; it imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mlstix.scan.models.pickles.allowlist import ImportPolicy

__all__ = ["Analyzer", "Context", "Hit", "Limits", "Source"]


@dataclass(frozen=True)
class Hit:
    rule_id: str
    message: str
    member: str | None = None
    line: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    """Safety limits of one scan (per top-level file)."""

    max_depth: int = 4  # archives inside archives
    max_member_bytes: int = 2 << 30  # decompressed size of one member
    max_total_bytes: int = 8 << 30  # decompressed bytes for one top-level file
    max_ratio: int = 1000  # compression ratio beyond which a large member is a bomb
    max_members: int = 200_000
    timeout: float = 300.0  # seconds of analysis per top-level file (hashing not included)
    max_memory: int = 8 << 30  # address space of a worker process (RLIMIT_AS); 0: no cap


@dataclass
class Source:
    """A seekable byte stream to scan. ``member`` is its path inside archives (``None`` for a
    file on disk); ``name`` is its base name."""

    fp: IO[bytes]
    size: int
    name: str
    member: str | None = None
    depth: int = 0
    accounted: bool = False  # an analyzer parsed every byte: no other loader view applies

    def head(self, n: int = 512) -> bytes:
        self.fp.seek(0)
        data = self.fp.read(n)
        self.fp.seek(0)
        return data

    def child_member(self, name: str) -> str:
        return f"{self.member}!{name}" if self.member else name


class Analyzer(Protocol):
    def __call__(self, src: Source, ctx: Context) -> str: ...


@dataclass
class Context:
    policy: ImportPolicy
    limits: Limits
    registry: dict[str, Analyzer]
    sniff: Callable[[Source], str | None]
    containers: frozenset[str] = frozenset()
    views: Callable[[Source, str | None], list[str]] = lambda src, kind: []
    hits: list[Hit] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    decompressed: int = 0

    def hit(self, rule_id: str, message: str, src: Source, **evidence: object) -> None:
        self.hits.append(Hit(rule_id, message, src.member, evidence=dict(evidence)))

    def malformed(self, rule_id: str, message: str, src: Source, **evidence: object) -> None:
        """A finding *and* an error for the file: what a loader would reject, or what mlstix
        cannot fully parse, is never quietly clean (the scan exits 2)."""
        self.hit(rule_id, message, src, **evidence)
        self.errors.append(f"{src.member}: {message}" if src.member else message)

    def budget(self) -> int:
        lim = self.limits
        return max(0, min(lim.max_member_bytes, lim.max_total_bytes - self.decompressed))

    def scan(self, src: Source) -> str | None:
        """Recognize ``src`` and run its analyzer, then every other loader's view of the same
        bytes (a pickle from offset 0, a zip found through its end record, ...): a file is
        clean only when every view is. ``None`` when no view recognizes it."""
        sniffed = kind = self.sniff(src)
        if sniffed is not None:
            if src.depth > self.limits.max_depth and sniffed in self.containers:
                self.hit(
                    "models/archive-limit",
                    f"archive nested deeper than {self.limits.max_depth} levels was not opened",
                    src,
                    limit="max_depth",
                )
                return sniffed
            kind = self.registry[sniffed](src, self)
            if kind == "none":
                kind = sniffed = None
        for view in self.views(src, sniffed):
            seen = self.registry[view](src, self)
            kind = kind or (seen if seen != "none" else None)
        return kind
