"""A rule's alternative signals that a Sentinel table does not keep: left out where that is sound.

Some rules take several signals in an OR (``1 of selection_human_*``): an IAM user, an Identity
Center session, a console session (``sessionCredentialFromConsole``), a session with a source
identity (``userIdentity.sessionContext.sourceIdentity``). The ``AWSCloudTrail`` table keeps the
first two and not the last two. Dropping an alternative that only ever *adds* matches gives a
query that matches less, never more, so the rule is still worth exporting; the query then starts
with a ``//`` comment naming what it cannot see. A detection is dropped only when every field it
reads has no column, it is named in no condition directly, every pattern that takes it is a
positive ``1 of``/``any of`` (never ``all of``, never under a ``not``), and another detection
still answers that pattern. Anything else that reads a missing field stays
:class:`~._sentinel.NoColumn`: the rule is listed as not exported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from sigma.processing.postprocessing import QueryPostprocessingTransformation
from sigma.processing.transformations.base import PreprocessingTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem

__all__ = ["DropAbsentAlternatives", "NoteDropped", "droppable"]

_NOTE = "mlstix_sentinel_dropped"
_QUANTIFIED = re.compile(r"\b(1|any|all)\s+of\s+([\w*]+)")


def _fields(detection: SigmaDetection) -> Iterator[str | None]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetectionItem):
            yield item.field
        else:
            yield from _fields(item)


def _negated(condition: str, at: int) -> bool:
    """Whether position ``at`` of ``condition`` sits under a ``not``."""
    stack: list[bool] = []
    for m in re.finditer(r"\bnot\s*\(|\(|\)", condition[:at]):
        if m.group(0) == ")":
            if stack:
                stack.pop()
        else:
            stack.append(m.group(0).startswith("not"))
    return any(stack) or bool(re.search(r"\bnot\s+$", condition[:at]))


def droppable(name: str, names: list[str], conditions: list[str]) -> bool:
    """Whether dropping detection ``name`` (of ``names``) can only remove matches."""
    taken = False
    for condition in conditions:
        if re.search(rf"(?<![\w*]){re.escape(name)}(?![\w*])", condition):
            return False
        for m in _QUANTIFIED.finditer(condition):
            quantifier, pattern = m.groups()
            if not (pattern == "them" or fnmatchcase(name, pattern)):
                continue
            if quantifier == "all" or _negated(condition, m.start()):
                return False
            if not any(n != name and (pattern == "them" or fnmatchcase(n, pattern)) for n in names):
                return False
            taken = True
    return taken


@dataclass
class DropAbsentAlternatives(PreprocessingTransformation):
    """Drop each detection whose every field ``has_column`` refuses, where :func:`droppable`."""

    has_column: Callable[[str], bool] = field(default=lambda _: True)
    table: str = ""

    def apply(self, rule: Any) -> None:
        super().apply(rule)
        detections: dict[str, SigmaDetection] = rule.detection.detections
        conditions = list(rule.detection.condition)
        dropped: list[str] = []
        for name, detection in list(detections.items()):
            names = list(detections)
            fields = list(_fields(detection))
            if not fields or any(f is None or self.has_column(f) for f in fields):
                continue
            if droppable(name, names, conditions):
                del detections[name]
                absent = ", ".join(sorted({f for f in fields if f}))
                dropped.append(f"{name} ({absent})")
        if dropped:
            rule.custom_attributes[_NOTE] = (self.table, dropped)


@dataclass
class NoteDropped(QueryPostprocessingTransformation):
    """Start the query with a comment naming the alternatives left out."""

    def apply(self, rule: Any, query: Any) -> Any:
        super().apply(rule, query)
        note = rule.custom_attributes.get(_NOTE)
        if not note:
            return query
        table, dropped = note
        lines = [
            f"// {table} does not keep what these alternatives of the rule read, so this query",
            "// cannot see them (it matches less than the rule, never more):",
            *(f"//   {d}" for d in dropped),
        ]
        return "\n".join(lines) + "\n" + str(query)
