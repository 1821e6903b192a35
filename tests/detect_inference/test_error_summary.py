"""A log with more bad lines than the report lists: the count of the others comes after the
lines it counts (errors are ordered by file and message)."""

from __future__ import annotations

import json
from pathlib import Path

from mlstix.detect.inference import InferenceOptions, detect_inference
from mlstix.kb.graph import KnowledgeBase


def test_the_count_of_unlisted_bad_lines_follows_the_listed_ones(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    good = [json.dumps({"client": f"c{i % 3}", "input": [i, i + 1]}) for i in range(30)]
    lines = [*good[:10], *(["{not json"] * 12), *good[10:]]
    log = tmp_path / "bad.jsonl"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = detect_inference([str(log)], kb, InferenceOptions())
    messages = [e.message for e in report.errors if e.path.endswith("bad.jsonl")]
    assert messages[-1] == "lines not listed: 7 more could not be read"
    listed = messages[:-1]
    assert len(listed) == 5 and all(m.startswith("line 1") for m in listed)
    assert all("not JSON" in m for m in listed)
