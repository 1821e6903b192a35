"""What one log file may add to a report: at most so many findings per rule, so many problems.

A log made of matching events (a flood of ``PutObject`` by a human, a replayed or hostile file, a
gzip bomb of one matching line) would otherwise give a finding, with its event, per line: 200,000
matching lines took 2.5 GB of memory and wrote a 391 MB report, and 1.78 M lines 14.7 GB. So per
file and per rule the first ``cap`` matches are findings (while the events kept stay under
:data:`MAX_KEPT_BYTES`), and the rest are counted into one summary finding (the rule's
severity, the first match not listed as its evidence, and ``more_matches``: how many were not
listed). Damaged lines and records without their source's
fields are errors in the same way: :data:`MAX_PROBLEMS` per file (the damaged lines as they are
met, then records lacking fields), then one line that counts the rest. Rows are read from the
engine as a stream, so memory stays bounded by the caps whatever the size of the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from mlstix.findings.model import Finding

__all__ = [
    "MAX_FINDINGS_PER_RULE",
    "MAX_KEPT_BYTES",
    "MAX_PROBLEMS",
    "Problems",
    "Tally",
    "build",
    "summary",
]

MAX_FINDINGS_PER_RULE = 100  # the default of --max-findings-per-rule (0: no cap)
MAX_PROBLEMS = 100  # error lines per file; the rest are counted in one more line
# events kept as findings' evidence per file (under a cap): 100 matches of events near DuckDB's
# 16 MiB would otherwise hold 1.6 GB per rule
MAX_KEPT_BYTES = 64 << 20


class Problems:
    """The problems of one file: :data:`MAX_PROBLEMS` in full, the rest counted."""

    def __init__(self, cap: int = MAX_PROBLEMS) -> None:
        self.cap = cap
        self.items: list[str] = []
        self.more = 0

    @property
    def full(self) -> bool:
        return len(self.items) >= self.cap

    def append(self, message: str) -> None:
        if self.full:
            self.more += 1
        else:
            self.items.append(message)

    def messages(self) -> list[str]:
        if not self.more:
            return list(self.items)
        return [
            *self.items,
            f"{self.more} more problems in this file are not listed ({self.cap} are)",
        ]


# one row of the engine's query: record number, event JSON, rule index per rule (or None),
# whether the record lacks its source's fields
Row = tuple[int, str, list[int | None], bool]


class Tally:
    """The rows of one file worth keeping: up to ``cap`` matches per rule (0: all) while the
    events kept stay under :data:`MAX_KEPT_BYTES`, the first match past that of each rule, and
    records that lack fields while ``problems`` has room."""

    def __init__(self, rules: int, cap: int, problems: Problems) -> None:
        self.cap = cap
        self.problems = problems
        self.count = [0] * rules  # matches per rule
        self.listed = [0] * rules  # of them kept as findings
        self.bytes = 0  # of the events kept
        self.kept: list[tuple[int, str, tuple[int, ...]]] = []  # rec, event, rule indexes
        self.first_more: dict[int, tuple[int, str]] = {}  # rule index -> its first unlisted match
        self.missing: list[tuple[int, str]] = []  # rec, event

    def add(self, row: Row) -> None:
        rec, raw, hits, missing = row
        if missing:
            if len(self.missing) + len(self.problems.items) >= self.problems.cap:
                self.problems.more += 1
            else:
                self.missing.append((rec, raw))
            return
        fits = not self.cap or self.bytes + len(raw) <= MAX_KEPT_BYTES
        keep: list[int] = []
        for index in hits:
            if index is None:
                continue
            self.count[index] += 1
            if fits and (not self.cap or self.listed[index] < self.cap):
                self.listed[index] += 1
                keep.append(index)
            elif index not in self.first_more:
                self.first_more[index] = (rec, raw)
        if keep:
            self.kept.append((rec, raw, tuple(keep)))
            self.bytes += len(raw)

    def records(self) -> set[int]:
        """The record numbers whose line numbers the report needs."""
        return {
            *(rec for rec, _, _ in self.kept),
            *(rec for rec, _ in self.first_more.values()),
            *(rec for rec, _ in self.missing),
        }


def summary(first: Finding, more: int, listed: int, cap: int) -> Finding:
    """The one finding that stands for the ``more`` matches of a rule in a file that were not
    listed (past the first ``cap``, or past :data:`MAX_KEPT_BYTES` of events): the first of them
    as its location and evidence, the count in ``more_matches``."""
    where = f"line {first.location.line}" if first.location.line else first.location.member
    why = f"the first {listed} are" if listed >= cap else (
        f"the first {listed} are: the events listed from this file reached "
        f"{MAX_KEPT_BYTES >> 20} MiB"
    )  # fmt: skip
    return dataclasses.replace(
        first,
        title=f"{first.title} ({more} more matches)",
        message=(
            f"{more} more events in this file match this rule, not listed one by one ({why}; "
            f"--max-findings-per-rule raises the cap, 0 lists every one); the first of them, at "
            f"{where}: {first.message}"
        ),
        evidence={**first.evidence, "more_matches": more},
    )


def build(make: Callable[[int, str, int], Finding], tally: Tally) -> list[Finding]:
    """The findings of a file: ``make(rule index, event JSON, record)`` for each kept match, and
    one summary per rule with matches not listed."""
    out = [make(index, raw, rec) for rec, raw, indexes in tally.kept for index in indexes]
    for index, (rec, raw) in sorted(tally.first_more.items()):
        more = tally.count[index] - tally.listed[index]
        out.append(summary(make(index, raw, rec), more, tally.listed[index], tally.cap))
    return out
