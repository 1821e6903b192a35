"""What an analyzer reports: :class:`Hit`, turned into a Finding by the engine.

Analyzers run in worker processes without the knowledge base; a hit names its rule and says
what was found. The engine adds the rule's severity, the KB title and the courses of action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Hit"]


@dataclass(frozen=True)
class Hit:
    rule_id: str
    message: str
    member: str | None = None
    line: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
