"""`mlstix detect logs` on a flood of matching events: at most N findings per rule and file
(``--max-findings-per-rule``, default 100), the rest one summary finding that counts them, and
at most 100 error lines per file; memory stays bounded whatever the number of matches.

Before the cap, 200,000 matching CloudTrail lines took 2.5 GB of memory and wrote a 391 MB
report, and 1.78 M lines 14.7 GB.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli_hardening.conftest import assert_clean, invoke

pytest.importorskip("duckdb", reason="mlstix detect needs the 'detect' extra (DuckDB)")
pytest.importorskip("sigma", reason="mlstix detect needs the 'detect' extra (pySigma)")

_RULE = """
title: {title}
id: {uuid}
status: experimental
description: test rule for the findings cap
references: [https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html]
author: test
date: 2026-12-02
tags: [attack.impact, atlas.aml.t0018]
logsource: {{product: aws, service: cloudtrail}}
detection:
  selection:
{selection}
  condition: selection
falsepositives: [none]
level: {level}
mlstix:
  attack_pattern: ml-model-tampering
  vulnerability: unversioned-model-assets
  indicates_id: relationship--{uuid}
"""


def _rules(folder: Path) -> Path:
    folder.mkdir()
    (folder / "put.yml").write_text(
        _RULE.format(
            title="Model written",
            uuid="0b6a3c1e-8f2d-4e57-9a61-3c2b1d0e4f5a",
            selection="    eventName: PutObject",
            level="high",
        )
    )
    (folder / "s3.yml").write_text(
        _RULE.format(
            title="Any S3 call",
            uuid="5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
            selection="    eventSource: s3.amazonaws.com",
            level="medium",
        )
    )
    return folder


def _event(i: int) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "eventTime": "2026-11-30T12:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "PutObject" if i % 2 == 0 else "GetObject",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/mallory"},
        "sourceIPAddress": "198.51.100.20",
        "requestParameters": {"bucketName": "acme-models", "key": f"m/{i}.bin"},
    }


def _lines(events: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


def _run(tmp_path: Path, log: Path, *more: str) -> tuple[Any, dict[str, Any]]:
    out = tmp_path / "report.json"
    rules = tmp_path / "rules"
    if not rules.exists():
        _rules(rules)
    args = ["detect", "logs", str(log), "--rules", str(rules), "-j", "1"]
    outcome = invoke([*args, *more, "--format", "json", "-o", str(out)])
    report = json.loads(out.read_text()) if out.exists() else {}
    assert_clean(outcome, {0, 1, 2}, names=str(log), report=out.read_text() if report else "")
    return outcome, report


def _by_rule(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for finding in report["findings"]:
        out.setdefault(finding["title"].split(" (")[0], []).append(finding)
    return out


def test_each_rule_lists_the_first_n_and_one_finding_counts_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "lake.jsonl"
    # a blank line first: the lines reported are the file's, not DuckDB's record numbers
    log.write_text("\n" + _lines([_event(i) for i in range(250)]))
    outcome, report = _run(tmp_path, log)
    assert outcome.code == 1 and report["errors"] == []
    found = _by_rule(report)
    put, s3 = found["Model written"], found["Any S3 call"]
    assert len(put) == 101 and len(s3) == 101
    # listed: the first 100 matches of each rule, in file order (line = event index + 2)
    put_lines = sorted(f["location"]["line"] for f in put if "more_matches" not in f["evidence"])
    assert put_lines == [2 * i + 2 for i in range(100)]
    s3_lines = sorted(f["location"]["line"] for f in s3 if "more_matches" not in f["evidence"])
    assert s3_lines == [i + 2 for i in range(100)]
    (put_more,) = [f for f in put if "more_matches" in f["evidence"]]
    (s3_more,) = [f for f in s3 if "more_matches" in f["evidence"]]
    assert put_more["evidence"]["more_matches"] == 25 and s3_more["evidence"]["more_matches"] == 150
    # the summary stands at the first unlisted match and keeps the rule's severity
    assert put_more["location"]["line"] == 2 * 100 + 2 and put_more["severity"] == "high"
    assert s3_more["location"]["line"] == 100 + 2 and s3_more["severity"] == "medium"
    assert put_more["evidence"]["event"]["requestParameters"]["key"] == "m/200.bin"
    assert "150 more events" in s3_more["message"]
    assert "--max-findings-per-rule" in s3_more["message"]
    assert s3_more["title"] == "Any S3 call (150 more matches)"


def test_the_cap_is_an_option_and_zero_lists_every_match(tmp_path: Path) -> None:
    log = tmp_path / "lake.jsonl"
    log.write_text(_lines([_event(i) for i in range(250)]))
    _, every = _run(tmp_path, log, "--max-findings-per-rule", "0")
    found = _by_rule(every)
    assert len(found["Model written"]) == 125 and len(found["Any S3 call"]) == 250
    assert not [f for f in every["findings"] if "more_matches" in f["evidence"]]
    _, three = _run(tmp_path, log, "--max-findings-per-rule", "3")
    found = _by_rule(three)
    assert [f["evidence"].get("more_matches") for f in found["Model written"]] == [None] * 3 + [122]
    outcome = invoke(["detect", "logs", str(log), "--max-findings-per-rule", "-1"])
    assert_clean(outcome, {2})


def test_a_damaged_flood_is_capped_on_the_salvage_path_too(tmp_path: Path) -> None:
    """A bad line sends the file to the salvage reader: the same cap, true line numbers."""
    log = tmp_path / "lake.jsonl.gz"
    body = _lines([_event(i) for i in range(120)]) + "{not json\n" + _lines([_event(120)])
    log.write_bytes(gzip.compress(body.encode()))
    outcome, report = _run(tmp_path, log, "--max-findings-per-rule", "50")
    assert outcome.code == 2
    (error,) = report["errors"]
    assert error["message"].startswith("line 121: not valid JSON")
    found = _by_rule(report)
    (more,) = [f for f in found["Any S3 call"] if "more_matches" in f["evidence"]]
    assert more["evidence"]["more_matches"] == 71 and more["location"]["line"] == 51
    listed = [f for f in found["Model written"] if "more_matches" not in f["evidence"]]
    assert sorted(f["location"]["line"] for f in listed) == [2 * i + 1 for i in range(50)]
    (put_more,) = [f for f in found["Model written"] if "more_matches" in f["evidence"]]
    assert put_more["evidence"]["more_matches"] == 11  # 60 before the bad line, 1 after it


def test_errors_are_capped_at_100_lines_per_file(tmp_path: Path) -> None:
    log = tmp_path / "lake.jsonl"
    lacking = {"eventSource": "s3.amazonaws.com", "eventName": "PutObject"}  # no eventTime
    log.write_text(_lines([lacking] * 150 + [_event(0)]) + "{bad\n" * 30)
    outcome, report = _run(tmp_path, log)
    assert outcome.code == 2
    messages = [e["message"] for e in report["errors"]]
    assert len(messages) == 101
    assert "80 more problems in this file are not listed (100 are)" in messages
    assert "line 1: a aws/cloudtrail record without eventTime" in messages
    assert len(report["findings"]) == 2  # the one good event, for both rules


_LIMIT = 1300 << 20  # as in tests/detect/logs/test_gzip_bomb.py: DuckDB reserves ~1 GB first


def test_a_gzip_of_150k_matching_events_stays_within_bounded_memory(tmp_path: Path) -> None:
    """Without the cap this run needed ~1.9 GB (200k lines took 2.5 GB); with it, ~200 MB."""
    resource = pytest.importorskip("resource", reason="RLIMIT_AS needs a POSIX system")
    log = tmp_path / "flood.jsonl.gz"
    line = (json.dumps(_event(0)) + "\n").encode()
    log.write_bytes(gzip.compress(line * 150_000, compresslevel=1))
    rules = _rules(tmp_path / "rules")

    def limit() -> None:  # runs in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (_LIMIT, _LIMIT))

    args = ["detect", "logs", str(log), "--rules", str(rules), "--format", "json", "-j", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "mlstix", *args],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        check=False,
    )
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert len(report["findings"]) == 202
    assert sorted(f["evidence"].get("more_matches", 0) for f in report["findings"])[-2:] == [
        149_900,
        149_900,
    ]


def test_large_events_are_listed_until_the_files_byte_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events near DuckDB's 16 MiB limit, 100 per rule, would hold 1.6 GB per rule: the events
    kept from one file stop at MAX_KEPT_BYTES (here lowered to about ten events), and the
    summary says why fewer than the cap were listed; the counts still add up."""
    from mlstix.detect.logs import _limits

    size = len(json.dumps(_event(0)))
    monkeypatch.setattr(_limits, "MAX_KEPT_BYTES", size * 10)
    log = tmp_path / "lake.jsonl"
    log.write_text(_lines([_event(i) for i in range(250)]))
    _, report = _run(tmp_path, log)
    found = _by_rule(report)
    for title, total in (("Model written", 125), ("Any S3 call", 250)):
        listed = [f for f in found[title] if "more_matches" not in f["evidence"]]
        (more,) = [f for f in found[title] if "more_matches" in f["evidence"]]
        assert 5 <= len(listed) <= 10
        assert len(listed) + more["evidence"]["more_matches"] == total
        assert f"reached {(size * 10) >> 20} MiB" in more["message"]
    assert len({f["location"]["line"] for f in report["findings"]}) <= 12
