"""The columnar reader (blocks of Data Capture lines read in one pass) and the line-by-line reader
give the same report on the same logs: the same findings, each flagged at the same query and
line, the same errors. Blocks the columnar reader cannot vouch for (a bad line, a body that is
no plain CSV row, a number where a string belongs) go line by line, and the two kinds of block
mix in one log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlstix.detect.inference import InferenceOptions, _fast, _records, detect_inference
from mlstix.detect.inference._records import parse_time
from mlstix.findings.model import Report
from mlstix.kb.graph import KnowledgeBase

pytest.importorskip("simdjson")


def _line(client: str, values: Any, scores: Any = "0.2,0.8", when: Any = "2026-11-30T10:00:00Z",
          encoding: str = "CSV", **meta: Any) -> str:  # fmt: skip
    data = values if not isinstance(values, list) else ",".join(f"{v:.4g}" for v in values)
    capture: dict[str, Any] = {
        "endpointInput": {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": data,
            "encoding": encoding,
        },
    }
    if scores is not None:
        capture["endpointOutput"] = {"observedContentType": "text/csv", "mode": "OUTPUT",
                                     "data": scores, "encoding": "CSV"}  # fmt: skip
    event = {"eventId": "e", "inferenceTime": when, "inferenceId": f"{client}:1", **meta}
    return json.dumps({"captureData": capture, "eventMetadata": event, "eventVersion": "0"},
                      separators=(",", ":"))  # fmt: skip


def _traffic(rng: np.random.Generator, count: int = 3000) -> list[str]:
    """Honest clients drawing natural inputs, a prober sending near-duplicates of one input and
    an extractor sweeping the box; times with and without fractions of a second."""
    lines = []
    origin = rng.normal(size=12)
    for i in range(count):
        second = f"{i % 60:02d}" + (f".{i % 1000:03d}" if i % 3 else "")
        when = f"2026-11-30T10:{(i // 60) % 60:02d}:{second}Z"
        if i > 1000 and i % 25 == 0:
            values = (origin + rng.normal(size=12) * 1e-3).tolist()
            lines.append(_line("prober", values, when=when))
        elif i > 1000 and i % 25 == 1:
            lines.append(_line("sweeper", rng.uniform(-8, 8, size=12).tolist(), when=when))
        else:
            scores = ",".join(f"{p:.5f}" for p in rng.dirichlet(np.ones(3)))
            lines.append(_line(f"user{i % 40}", rng.normal(size=12).tolist(), scores, when))
    return lines


def _summary(report: Report) -> tuple[Any, ...]:
    findings = sorted(
        (
            f.rule_id,
            f.message,
            json.dumps(f.evidence, sort_keys=True),
            f.location.path,
            f.location.line,
            f.location.resource,
        )
        for f in report.findings
    )
    errors = sorted((e.path, e.message) for e in report.errors)
    scanned = [(s.path, s.kind) for s in report.scanned]
    return findings, errors, scanned


def _both(paths: list[str], kb: KnowledgeBase, **options: Any) -> tuple[Report, Report]:
    fast = detect_inference(paths, kb, InferenceOptions(columnar=True, **options))
    slow = detect_inference(paths, kb, InferenceOptions(columnar=False, **options))
    return fast, slow


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Small blocks (so a log has many), and a count of the blocks read in columns."""
    monkeypatch.setattr(_records, "_BLOCK", 16 << 10)
    seen = {"columnar": 0, "lines": 0}
    real = _fast.FastReader.__call__

    def call(self: _fast.FastReader, block: bytes, path: str, first: int) -> Any:
        out = real(self, block, path, first)
        seen["columnar" if out is not None else "lines"] += 1
        return out

    monkeypatch.setattr(_fast.FastReader, "__call__", call)
    return seen


@pytest.mark.parametrize("compiled", [True, False])
def test_columnar_and_line_readers_give_the_same_report(
    tmp_path: Path,
    kb: KnowledgeBase,
    counted: dict[str, int],
    compiled: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not compiled:
        monkeypatch.setattr(_fast, "_kernel", lambda: None)  # simdjson reads the bodies
    elif _fast._kernel() is None:
        pytest.skip("the compiled loop _kread is not built (no C compiler at install?)")
    log = tmp_path / "capture.jsonl"
    log.write_text("\n".join(_traffic(np.random.default_rng(5))) + "\n", encoding="utf-8")
    fast, slow = _both([str(log)], kb, client_key="inference-id-prefix::")
    assert counted["columnar"] > 10 and counted["lines"] == 0
    assert _summary(fast) == _summary(slow)
    flagged = {f.evidence["client"] for f in fast.findings if "client" in f.evidence}
    assert {"prober", "sweeper"} <= flagged and not any(c.startswith("user") for c in flagged)


def test_blocks_with_lines_it_cannot_vouch_for_are_read_line_by_line(
    tmp_path: Path, kb: KnowledgeBase, counted: dict[str, int]
) -> None:
    lines = _traffic(np.random.default_rng(6))
    odd = {
        300: "",  # a blank line
        700: "{not json",
        1100: _line("user1", "1,2,nan,4,5,6,7,8,9,10,11,12"),  # not finite
        1500: _line("user2", [0.5] * 12).replace('"data":"0.5', '"data":0.5,"x":"0.5', 1),
        1900: _line("user3", "1,+-2,3,4,5,6,7,8,9,10,11,12"),  # SQL engines take +-2, float() not
        2300: _line("user4", [1.0] * 12, encoding="JSON"),  # read by content, not as CSV
        2500: _line("user5", [1.0] * 7),  # another input size
        2700: json.dumps({"client": "plain", "input": [1.0] * 12}),  # another shape
        2800: _line("user6", [2.0] * 12, when="30/11/2026 10:00"),  # a time Python cannot read
        2820: _line("user6", [2.0] * 12, when="2026-11-30T24:00:00Z"),  # SQL engines read it
        2840: _line("user6", [2.0] * 12, when="2026-11-30T10:00:00+25:00"),  # SQL engines read it
        2860: _line("user6", [2.0] * 12, when="2026-02-30T10:00:00Z"),  # no such day
        2900: _line("user7", [1.0] * 12, scores=None),  # no output captured
        2950: _line("user8", [1.0] * 12, scores="7"),  # a class index
        2970: _line("user9", "9007199254740993" + ",1" * 11),  # past 2**53: rounded twice
    }
    for index, text in odd.items():
        lines[index] = text
    lines[1200] = lines[1200].replace('"inferenceId":"user', '"inferenceId":"nocolon', 1)
    log = tmp_path / "capture.jsonl"
    log.write_text("\n".join(lines), encoding="utf-8")  # and no newline at the end
    fast, slow = _both([str(log)], kb, client_key="inference-id-prefix::")
    assert counted["columnar"] > 5 and counted["lines"] >= 8
    assert _summary(fast) == _summary(slow)
    assert len(fast.errors) >= 5


@pytest.mark.parametrize("model_type", ["classifier", "other"])
def test_the_field_client_key_and_model_types_agree(
    tmp_path: Path, kb: KnowledgeBase, counted: dict[str, int], model_type: str
) -> None:
    rng = np.random.default_rng(7)
    lines = [
        _line("u", rng.normal(size=5).tolist(), scores=f"{rng.uniform():.3f}", tenant=f"t{i % 12}")
        for i in range(2500)
    ]
    log = tmp_path / "capture.jsonl"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fast, slow = _both([str(log)], kb, client_key="field:tenant", model_type=model_type)
    assert counted["columnar"] > 5
    assert _summary(fast) == _summary(slow)


def test_times_and_labels_are_read_as_the_line_reader_reads_them() -> None:
    reader = _fast.fast_reader("inference-id-prefix::", "classifier")
    assert reader is not None
    times = ["2026-11-30T10:00:00Z", "2026-11-30T10:00:00.5+01:00", "2026-11-30 23:59:59.123456",
             "2026-11-30T10:00:00-05:30"]  # fmt: skip
    scores = ["0.1,0.7,0.2", "0.3,0.3,0.3", "2", "0.6"]
    block = "\n".join(
        _line(f"c{i}", [1.5, -2.25, 3e-3], scores=s, when=t)
        for i, (t, s) in enumerate(zip(times, scores, strict=True))
    ).encode()
    batch = reader(block, "log", 7)
    assert isinstance(batch, _fast.FastBatch)
    assert batch.times.tolist() == [parse_time(t) for t in times]
    assert batch.labels.tolist() == [1, 0, 2, 1]
    assert batch.lines.tolist() == [7, 8, 9, 10]
    assert batch.clients == ["c0", "c1", "c2", "c3"]
    assert batch.vectors.tolist() == [np.array([1.5, -2.25, 3e-3], np.float32).tolist()] * 4


@pytest.mark.parametrize(
    "spec", ["attr:user", "json:$.user", "field:a.b", "field:inferenceTime", "field:client"]
)
def test_client_keys_the_columnar_reader_leaves_to_the_line_reader(spec: str) -> None:
    reader = _fast.fast_reader(spec, "classifier")
    assert (reader is not None) == (spec in ("field:client", "field:inferenceTime"))


def test_without_the_compiled_loop_or_simdjson_every_block_is_read_line_by_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "simdjson" else real(name, *a)
    )
    compiled = _fast._kernel() is not None
    assert (_fast.fast_reader("field:client", "classifier") is not None) == compiled
    monkeypatch.setattr(_fast, "_kernel", lambda: None)
    assert _fast.fast_reader("field:client", "classifier") is None


def test_a_damaged_gzip_keeps_every_line_before_the_damage(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    import gzip

    text = "\n".join(_traffic(np.random.default_rng(8), 2500)) + "\n"
    data = gzip.compress(text.encode())
    log = tmp_path / "cut.jsonl.gz"
    log.write_bytes(data[: len(data) * 2 // 3])
    fast, slow = _both([str(log)], kb, client_key="inference-id-prefix::")
    assert _summary(fast) == _summary(slow)
    assert any("ends early or is damaged" in e.message for e in fast.errors)
    assert fast.scanned[0].kind == "sagemaker-data-capture"
    judged = {f.evidence["client"] for f in fast.findings if "client" in f.evidence}
    assert "prober" in judged  # its queries before the damage were read and judged


def test_a_gzip_damaged_inside_is_an_error_entry_not_a_traceback(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    """Bytes changed inside the deflate stream make zlib raise its own error (``zlib.error``,
    not an OSError): the file is an errors entry, not a traceback."""
    import gzip
    import zlib

    text = "\n".join(_traffic(np.random.default_rng(9), 2500)) + "\n"
    data = bytearray(gzip.compress(text.encode()))
    data[200:260] = bytes(b ^ 0x55 for b in data[200:260])
    with pytest.raises(zlib.error):
        gzip.decompress(bytes(data))  # (the damage this test is about)
    log = tmp_path / "damaged.jsonl.gz"
    log.write_bytes(bytes(data))
    fast, slow = _both([str(log)], kb, client_key="inference-id-prefix::")
    assert _summary(fast) == _summary(slow)
    assert [e.message.split(":")[0] for e in fast.errors] == ["the file ends early or is damaged"]
