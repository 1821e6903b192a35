"""The engine's bookkeeping in columns gives what the item-by-item rules give: the warm-up taken
straight from blocks read in columns (cut anywhere, mixed with lines read one by one and with
inputs of another width), clients grouped once per chunk (their time spans from one reduction),
and the coverage test visiting only the queries where its verdict can change."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlstix.detect.inference import (
    InferenceOptions,
    _records,
    _rows,
    detect_inference,
    engine,
)
from mlstix.detect.inference._baseline import Baseline
from mlstix.detect.inference._detectors import PROFILES, ClientState, Where
from tests.detect_inference import rules
from tests.detect_inference.test_columnar import _line, _traffic

DIM = 3


def _judged(
    monkeypatch: pytest.MonkeyPatch, paths: list[str], options: InferenceOptions
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report and every client's judged state (queries, off-manifold count, near
    duplicates, repeated steps, the last W, time span, detections) and volume."""
    runs: list[engine._Run] = []
    real = engine._Run.run

    def run(self: engine._Run, files: list[tuple[Path, str]]) -> None:
        runs.append(self)
        real(self, files)

    monkeypatch.setattr(engine._Run, "run", run)
    report = detect_inference(paths, None, options)
    monkeypatch.setattr(engine._Run, "run", real)
    states = {
        client: (state.queries, state.off_manifold, state.near_duplicates, state.sign_steps,
                 state.last_w, state.first_time, state.last_time,
                 {k: (d.query, d.statistic, d.line) for k, d in state.detections.items()})
        for client, state in [*runs[0].states.items(), *runs[0].done]
    }  # fmt: skip
    return report.to_json(), {"states": states, "volumes": dict(runs[0].volumes)}


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.booleans(), min_size=1, max_size=300),  # any pattern of off-manifold queries
    st.lists(st.integers(1, 90), min_size=1, max_size=8),  # batch sizes, repeated
    st.sampled_from(["balanced", "strict"]),
    st.lists(st.one_of(st.none(), st.floats(0, 2e9)), min_size=1, max_size=7),  # times
)
def test_coverage_and_time_span_match_the_query_by_query_rule(
    off_list: list[bool], sizes: list[int], profile_name: str, moments: list[float | None]
) -> None:
    off = np.array(off_list)
    count = len(off)
    rng = np.random.default_rng(count)
    queries = rng.normal(size=(count, DIM)).astype(np.float32) * 10.0  # far apart: no probing
    zeros = np.zeros(DIM, dtype=np.float32)
    ref = rng.normal(size=(8, DIM)).astype(np.float32)
    baseline = Baseline(zeros, zeros + 1, ref, np.arange(8), 1e-3, 4.0, 0.0, zeros + 1)
    times = np.array([np.nan if m is None else m for m in moments] * count)[:count]
    where = Where(["log"], np.zeros(count, np.int64), np.arange(1, count + 1), times)
    plain = ClientState(DIM, 50, PROFILES[profile_name])  # the batch finds its own time span
    given_span = ClientState(DIM, 50, PROFILES[profile_name])  # as the engine gives it
    start, turn = 0, 0
    while start < count:
        stop = min(count, start + sizes[turn % len(sizes)])
        part = slice(start, stop)
        labels = np.zeros(stop - start, np.int64)
        plain.update(queries[part], labels, off[part], where.part(part), baseline)
        span = (float(np.fmin.reduce(times[part])), float(np.fmax.reduce(times[part])))
        given_span.update(queries[part], labels, off[part], where.part(part), baseline, span=span)
        start, turn = stop, turn + 1
    want = rules.coverage(off.tolist(), profile_name)
    for state in (plain, given_span):
        got = state.detections.get("coverage")
        assert (None if got is None else (got.query, got.statistic["off_manifold_share"])) == want
        assert state.off_manifold == int(off.sum())
    known = times[~np.isnan(times)]
    span_want = (float(known.min()), float(known.max())) if known.size else (None, None)
    assert (plain.first_time, plain.last_time) == span_want
    assert (given_span.first_time, given_span.last_time) == span_want


@pytest.mark.parametrize("warmup", [1, 37, 500, 777, 2000, 5000])
def test_warm_up_from_columns_gives_the_report_items_gave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warmup: int
) -> None:
    """Blocks read in columns (16 KiB here, so the warm-up ends inside one), a first stretch of
    inputs of another width (problems, in the order the line reader finds them) and lines read
    one by one (bad lines make their block go line by line) give the report the line-by-line
    reader gives."""
    monkeypatch.setattr(_records, "_BLOCK", 16 << 10)
    rng = np.random.default_rng(warmup)
    odd = [_line(f"odd{i % 3}", rng.normal(size=5).tolist()) for i in range(70)]
    lines = odd + _traffic(rng, 2500)
    lines[1500] = "{not json"
    log = tmp_path / "capture.jsonl"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    key = "inference-id-prefix::"
    fast, slow = (
        _judged(monkeypatch, [str(log)], InferenceOptions(key, warmup=warmup, columnar=columnar))
        for columnar in (True, False)
    )
    assert fast == slow
    errors = [e["message"] for e in fast[0]["errors"]]
    odd_one = "5 values;" if warmup > 2 * len(odd) else "12 values;"  # not the warm-up's width
    assert any(f"a numeric input of {odd_one}" in m for m in errors)
    if warmup >= 500:  # enough to learn from: the prober and the sweeper are found
        flagged = {f["evidence"].get("client") for f in fast[0]["findings"]}
        assert {"prober", "sweeper"} <= flagged


@pytest.mark.parametrize("chunk", [97, 65536])
def test_clients_grouped_by_16_or_64_bit_codes_and_any_chunk_give_one_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """A chunk's clients are grouped by 16-bit codes (sorted by radix) or, past 65,535 clients
    in a chunk, 64-bit ones: the same report; and small chunks (a client's rows and time span
    gathered once per chunk, its state carried over) give the one big chunk's report."""
    log = tmp_path / "capture.jsonl"
    log.write_text("\n".join(_traffic(np.random.default_rng(11), 3000)) + "\n", encoding="utf-8")
    options = InferenceOptions(client_key="inference-id-prefix::", warmup=400, chunk=chunk)
    judged = []
    for small in (0xFFFF, 0):
        monkeypatch.setattr(engine, "_SMALL_CODES", small)
        judged.append(_judged(monkeypatch, [str(log)], options))
    whole = _judged(monkeypatch, [str(log)], replace(options, chunk=1 << 20))
    assert whole[0]["findings"]
    assert judged[0] == judged[1] == whole


@pytest.mark.parametrize("count", [0, 15, 60])
def test_volumes_count_every_query_read_whatever_path_it_took(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    """Queries of another width, queries read before there is a baseline and queries never
    judged (too few to learn from) count in the clients' volumes as the line reader counts
    them: the "not enough data" finding says how many were read."""
    monkeypatch.setattr(_records, "_BLOCK", 4 << 10)
    rng = np.random.default_rng(count)
    lines = [_line(f"wide{i % 2}", rng.normal(size=5).tolist()) for i in range(9)]
    lines += [_line(f"user{i % 4}", rng.normal(size=12).tolist()) for i in range(count)]
    log = tmp_path / "capture.jsonl"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    key = "inference-id-prefix::"
    fast, slow = (
        _judged(monkeypatch, [str(log)], InferenceOptions(key, warmup=20, columnar=columnar))
        for columnar in (True, False)
    )
    assert fast == slow
    assert sum(fast[1]["volumes"].values()) == len(lines)
    assert any("not-enough-data" in f["rule_id"] for f in fast[0]["findings"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_parts_put_in_client_order_are_the_joined_rows_taken_in_order(
    sizes: list[int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    vectors = [rng.normal(size=(size, 3)).astype(np.float32) for size in sizes]
    parts = [
        _rows.Rows([f"c{i}" for i in range(len(v))], v, np.zeros(len(v), np.int64),
                     np.zeros(len(v), np.int64), np.arange(len(v)), np.zeros(len(v)))
        for v in vectors
    ]  # fmt: skip
    order = rng.permutation(sum(sizes))
    joined = np.concatenate(vectors)[order]
    got = _rows.in_order(parts, order, sum(sizes))
    assert got.dtype == np.float32 and np.array_equal(got, joined)
