"""A report's parts are in a stable order: errors by file, then in natural order of their
messages (``line 2`` before ``line 10``), whatever order the scanner met them in."""

from __future__ import annotations

import random

from mlstix.findings.model import Report, ScanError


def test_errors_sort_by_file_then_numbers_as_numbers() -> None:
    wanted = [
        ScanError("a.jsonl", "line 2: not JSON"),
        ScanError("a.jsonl", "line 10: not JSON"),
        ScanError("b.jsonl", "cannot read: permission denied"),
        ScanError("b.jsonl", "line 1: not JSON"),
        ScanError("b.jsonl", "line 9: request body: CSV body is empty"),
        ScanError("b.jsonl", "line 9: the client key finds no client"),
        ScanError("b.jsonl", "line 09: written with a leading zero"),  # 9 again: then the text
        ScanError("b.jsonl", "line 100: not JSON"),
        ScanError("b.jsonl", "line 1000000000000000000000000000000: huge"),
        ScanError("b.jsonl", "lines not listed: 12 more could not be read"),
        ScanError("c.jsonl", "line 3 of 7"),
        ScanError("c.jsonl", "line 3 of 12"),
    ]
    shuffled = wanted[:]
    for seed in range(20):
        random.Random(seed).shuffle(shuffled)
        got = Report.build("inference", [], [], shuffled).errors
        assert list(got) == wanted


def test_a_thousand_digit_number_in_a_message_is_sorted_without_int() -> None:
    long = "9" * 5000  # int() of it raises ValueError (the 4,300-digit limit)
    errors = [ScanError("x", f"line {long}: a"), ScanError("x", "line 7: b")]
    assert [e.message[-1] for e in Report.build("x", [], [], errors).errors] == ["b", "a"]
