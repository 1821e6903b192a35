"""The columnar reader against the line-by-line reader, line by line: on every block it takes,
each query's client, input vector, label, time and line number are what the line reader makes
of the same line; every block it cannot vouch for it leaves to the line reader (``None``).

The bodies cover what CSV writers produce (exponents, signs, negative zero, whole numbers next
to fractions, spaces, every column count) and what they should not (NaN and infinity as text,
empty bodies, brackets, a second row); the lines cover what lenient JSON readers take but
strict JSON does not (NaN and Infinity literals, trailing commas, a byte-order mark) and
duplicate keys, where the last counts in both readers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlstix.detect.inference import InferenceOptions, _fast, _lines, _records, detect_inference
from mlstix.detect.inference._clients import parse_client_key
from mlstix.detect.inference._features import DecodeError, decode_input, decode_labels
from mlstix.detect.inference._records import Record
from mlstix.kb.graph import KnowledgeBase

_KEY = "inference-id-prefix::"


@pytest.fixture(params=["compiled", 256 << 10, 1, 7])
def pieces(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bodies read by the compiled loop (``_kread.c``, where it is built), or by simdjson:
    its pieces as in use, or cut at every line and value (a cut next to a blank line, an
    empty value or a trailing comma must not hide it)."""
    if request.param == "compiled":
        if _fast._kernel() is None:
            pytest.skip("the compiled loop _kread is not built (no C compiler at install?)")
        return
    pytest.importorskip("simdjson")
    monkeypatch.setattr(_fast, "_kernel", lambda: None)
    monkeypatch.setattr(_fast, "_PIECE", request.param)


def _line(x: Any, y: Any = "0.2,0.8", client: Any = "c:1", when: Any = "2026-11-30T10:00:00Z",
          x_encoding: Any = "CSV", y_encoding: Any = "CSV") -> str:  # fmt: skip
    capture: dict[str, Any] = {"endpointInput": {"observedContentType": "text/csv",
                                                 "mode": "INPUT", "data": x,
                                                 "encoding": x_encoding}}  # fmt: skip
    if y is not None:
        capture["endpointOutput"] = {"observedContentType": "text/csv", "mode": "OUTPUT",
                                     "data": y, "encoding": y_encoding}  # fmt: skip
    meta = {"eventId": "e", "inferenceId": client, "inferenceTime": when}
    return json.dumps({"captureData": capture, "eventMetadata": meta, "eventVersion": "0"})


def _line_reader(text: str, spec: str, classifier: bool) -> tuple[Any, ...] | None:
    """What the line reader makes of one line: (client, vector, label, time), or None when
    it reports the line (an error) or finds more or less than one query in it."""
    out = list(_records._parse_line(text.encode(), "log", 1, _records._AzureJoin(),
                                    _records._loads()))  # fmt: skip
    if len(out) != 1 or not isinstance(out[0], Record):
        return None
    record = out[0]
    client = parse_client_key(spec)(record)
    try:
        instances = decode_input(record.input)
    except DecodeError:
        return None
    if client is None or len(instances) != 1 or instances[0].kind != "numeric":
        return None
    label = decode_labels(record.output, 1)[0] if classifier else None
    return client, instances[0].vector.tolist(), label, record.time


def _check(lines: list[str], spec: str = _KEY, classifier: bool = True) -> bool:
    """Run the columnar reader on the block; where it reads it, compare each query with the
    line reader's reading of its line. True when the columnar reader took the block."""
    reader = _fast.fast_reader(spec, "classifier" if classifier else "other")
    assert reader is not None
    batch = reader("\n".join(lines).encode() + b"\n", "log", 5)
    if batch is None:
        return False
    assert batch.lines.tolist() == list(range(5, 5 + len(lines)))
    for i, text in enumerate(lines):
        expected = _line_reader(text, spec, classifier)
        assert expected is not None, f"line {i} taken in columns, refused line by line"
        client, vector, label, when = expected
        got_time = float(batch.times[i])
        assert batch.clients[i] == client
        assert batch.vectors[i].tolist() == vector
        assert np.signbit(batch.vectors[i]).tolist() == np.signbit(vector).tolist()
        assert int(batch.labels[i]) == (-1 if label is None else label)
        assert (math.isnan(got_time) and when is None) or got_time == when
    return True


def _rows(values: list[list[str]]) -> list[str]:
    return [_line(",".join(row), client=f"c{i % 3}:{i}") for i, row in enumerate(values)]


def _styles(v: float) -> list[str]:
    return [repr(v), f"{v:.3e}", f"{v:.17g}", f"{v:E}", str(int(v) % 1000)]


def test_numbers_as_writers_print_them(pieces: None) -> None:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(300):
        raw = rng.normal(size=6) * 10.0 ** rng.integers(-30, 11, size=6)
        rows.append([_styles(float(v))[(i + k) % 5] for k, v in enumerate(raw)])
    rows.append(["-0", "-0.0", "0", "0e0", "-0E-5", "1e-400"])  # signs of zero, underflow
    rows.append(["9007199254740991", "-9007199254740991", "1", "2", "3", "4"])  # below 2**53
    rows.append([" 1", "2 ", " 3 ", "4\t", "5\r", "6"])  # JSON whitespace around numbers
    assert _check(_rows(rows))


@pytest.mark.parametrize(
    "body",
    [
        "1,2,nan,4", "1,2,NaN,4", "1,inf,3,4", "1,-Infinity,3,4",  # float() reads them
        "1,,3,4", "1,2,3,4,", "", " ", "1 2,3,4,5",  # empty or missing values
        "+1,2,3,4", "1.,2,3,4", ".5,2,3,4", "01,2,3,4", "0x10,2,3,4",  # not JSON numbers
        "[1,2],3,4", "1,2,3,4]", "1,2\\n3,4", "1,true,3,4", "1,null,3,4", '1,\\"2\\",3,4',
        "1e400,2,3,4", "9007199254740993,1,2,3", "123456789012345678901234567890,1,2,3",
        "1,2,3,4\\u000b", "1,2,3,\\u00a04",
    ],
)  # fmt: skip
def test_bodies_it_cannot_vouch_for_go_line_by_line(body: str, pieces: None) -> None:
    good = _rows([["1", "2", "3", "4"]] * 20)
    bad = json.loads(_line("x"))
    bad["captureData"]["endpointInput"]["data"] = json.loads(f'"{body}"')
    assert not _check([*good[:10], json.dumps(bad), *good[10:]])


@pytest.mark.parametrize(
    "change",
    [
        lambda line: line.replace('"eventVersion": "0"', '"eventVersion": NaN'),
        lambda line: line.replace('"eventVersion": "0"', '"eventVersion": -Infinity'),
        lambda line: line.replace('"eventVersion": "0"', '"eventVersion": "0",'),
        lambda line: line.replace('"mode": "INPUT",', '"mode": "INPUT", "x": [1,],'),
        lambda line: "\ufeff" + line,  # a byte-order mark
        lambda line: "",  # a blank line
        lambda line: line + " " + line,  # two objects on a line
        lambda line: line[:-1],  # cut short
        lambda line: line.replace('"encoding": "CSV"', '"encoding": "csv "', 1),
        lambda line: line.replace('"encoding": "CSV"', '"encoding": "BASE64"', 1),
        lambda line: line.replace('"encoding": "CSV"', '"encoding": null', 1),
        lambda line: line.replace('"inferenceId": "c1:1"', '"inferenceId": "c1"'),
        lambda line: line.replace('"inferenceId": "c1:1"', '"inferenceId": ":1"'),
        lambda line: line.replace('"inferenceId": "c1:1"', '"inferenceId": {"id": "c1:1"}'),
        lambda line: line.replace('"inferenceTime": "2026-11-30T10:00:00Z"', '"inferenceTime": 5'),
    ],
)
def test_lines_it_cannot_vouch_for_go_line_by_line(change: Any, pieces: None) -> None:
    lines = _rows([["1", "2", "3", "4"]] * 20)
    odd = _line("1,2,3,4", client="c1:1")
    assert _check([*lines, odd])
    assert not _check([*lines[:5], change(odd), *lines[5:]])


def test_outputs_and_clients_as_the_line_reader_reads_them(pieces: None) -> None:
    x = "1,2,3,4"
    lines = [
        _line(x, y="0.1,0.7,0.2"),
        _line(x, y="0.3, 0.3 ,0.3"),  # a tie: the first
        _line(x, y="7"),  # a class index
        _line(x, y=" 0.6 "),  # a probability
        _line(x, y="1.0"),
        _line(x, y="-1"),
        _line(x, y="2.5"),  # neither
        _line(x, y=""),  # empty: no label
        _line(x, y=None),  # no output captured
        _line(x, y=3),  # a number where the body belongs
        _line(x, y="0.2,0.8", y_encoding="csv"),
        _line(x, client="12:34"),  # a client that looks like a number, as a string
        _line(x, client="ünï:cödé"),
        _line(x, client='nul\x00 \U0001f600 \u2028 \\ ":id'),  # escapes decoded alike
        _line(x, client="a::b"),
        _line(x, when=None),
        _line(x, when="2026-11-30 23:59:59.123456"),
        _line(x, when="2026-11-30T10:00:00.5-05:30"),
    ]
    assert _check(lines)
    assert _check(lines, classifier=False)
    assert not _check([*lines, _line(x, y="-3")])  # a class below -1: line by line
    assert not _check([*lines, _line(x, y="1,2\n3,4")])  # two rows of scores


def test_field_client_keys_check_values_that_may_not_be_strings() -> None:
    lines = [_line("1,2", client=name) for name in ("12", "true", "a", "{x", "-1e5")]
    assert _check(lines, spec="field:inferenceId")
    assert _check(lines, spec="field:inferenceTime")  # the time as the client: read alike
    assert _check(lines, spec='field:in"ferenceId') is False  # no such field: no client
    for value in (12, True, 1.5, {"x": 1}):
        assert not _check([*lines, _line("1,2", client=value)], spec="field:inferenceId")
        assert not _check([*lines, _line("1,2", client=value)])


def test_column_counts_must_agree_within_a_block(pieces: None) -> None:
    assert _check(_rows([["1", "2"]] * 5))
    assert not _check(_rows([["1", "2"]] * 5 + [["1", "2", "3"]]))
    assert not _check(_rows([["1"]] * 5))  # one column: a JSON number would pass for it


def _summary(report: Any) -> Any:
    return (
        sorted(
            (f.rule_id, f.message, json.dumps(f.evidence, sort_keys=True), f.location.line)
            for f in report.findings
        ),
        sorted((e.path, e.message) for e in report.errors),
        [(s.path, s.kind) for s in report.scanned],
    )


def test_mixed_blocks_long_lines_and_gzip_give_the_line_readers_report(
    tmp_path: Path, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    monkeypatch.setattr(_records, "_BLOCK", 2 << 10)  # blocks stay under _MAX_LINE
    monkeypatch.setattr(_records, "_MAX_LINE", 4 << 10)
    monkeypatch.setattr(_fast, "_MAX_LINE", 4 << 10)
    rng = np.random.default_rng(11)
    lines = []
    for i in range(2400):
        width = 6 if i < 2000 else 9  # the endpoint changes shape
        row = rng.normal(size=width) * (1.0 if i % 40 else 1e5)
        lines.append(_line(",".join(f"{v:.6g}" for v in row), client=f"u{i % 30}:{i}",
                           y=",".join(f"{p:.4f}" for p in rng.dirichlet(np.ones(3)))))  # fmt: skip
    lines[700] = _line(",".join(["1.5"] * 1600), client="long:1")  # a line past the limit
    lines[900] = lines[900].replace('"eventVersion": "0"', '"eventVersion": NaN')
    lines[1500] = "\ufeff" + lines[1500]
    text = "\n".join(lines) + "\n"
    plain = tmp_path / "capture.jsonl"
    plain.write_text(text, encoding="utf-8")
    packed = tmp_path / "capture.jsonl.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    taken = []
    real = _fast.FastReader.__call__

    def call(self: _fast.FastReader, block: bytes, path: str, first: int) -> Any:
        out = real(self, block, path, first)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(_fast.FastReader, "__call__", call)
    for log in (plain, packed):
        fast = detect_inference([str(log)], kb, InferenceOptions(client_key=_KEY, warmup=300))
        slow = detect_inference([str(log)], kb, InferenceOptions(client_key=_KEY, warmup=300,
                                                                columnar=False))  # fmt: skip
        assert _summary(fast) == _summary(slow)
        messages = " ".join(e.message for e in fast.errors)
        assert "line 701: line longer than" in messages and "line 901: not JSON" in messages
        assert "line 1501: not JSON" in messages
    assert taken.count(True) > 20 and taken.count(False) >= 6


class _Pieces:
    """A stream whose ``read1`` returns at most ``piece`` bytes."""

    def __init__(self, data: bytes, piece: int) -> None:
        self.data, self.piece, self.at = data, piece, 0

    def read1(self, size: int = -1) -> bytes:
        out = self.data[self.at : self.at + min(size, self.piece)]
        self.at += len(out)
        return out

    read = read1


@pytest.mark.parametrize("piece", [1, 7, 64, 1000])
def test_blocks_are_whole_lines_whatever_the_reads_return(piece: int) -> None:
    lines = [b"x" * n for n in (5, 0, 300, 99, 100, 101, 1, 250, 0, 0, 7)]
    for data in (b"\n".join(lines) + b"\n", b"\n".join(lines), b"", b"\n\n", b"a" * 450):
        stream: Any = _Pieces(data, piece)
        # (each block is a view of the reader's buffer, valid until the next is asked for)
        blocks = [bytes(block) for block, error in _lines.blocks(stream, 100) if error is None]
        assert b"".join(blocks) == data
        assert all(block.endswith(b"\n") for block in blocks[:-1])
        # a block is cut in the first read that brings a newline once it holds a block's size:
        # every newline before that read's bytes is within the first 100
        assert all(block.rfind(b"\n", 0, max(0, len(block) - piece)) < 100 for block in blocks)


def test_a_small_file_gets_a_small_buffer_and_blocks_are_lent(tmp_path: Path) -> None:
    """A plain file smaller than a block is read into a buffer of its size (and a little
    room), not a block's; a gzip stream into a block's. Each block is a view of the buffer,
    released once the next is asked for (it may not be kept)."""
    import gzip

    small = tmp_path / "small.jsonl"
    small.write_bytes(b"a\n" * 500)
    with small.open("rb") as plain:
        assert _lines._size(plain, 8 << 20) == 1000 + (64 << 10)
        assert _lines._size(plain, 100) == 100
    packed = tmp_path / "small.jsonl.gz"
    packed.write_bytes(gzip.compress(b"a\n" * 500))
    with gzip.open(packed, "rb") as stream:
        assert _lines._size(stream, 8 << 20) == 8 << 20  # type: ignore[arg-type]
    with small.open("rb") as plain:
        reader = _lines.blocks(plain, 100)
        first, error = next(reader)
        assert error is None and bytes(first) == b"a\n" * 50
        second, _ = next(reader)
        with pytest.raises(ValueError, match="released"):
            bytes(first)
        assert bytes(second) == b"a\n" * 50
        assert b"".join(bytes(block) for block, _ in reader) == b"a\n" * 400


def test_blank_lines_and_empty_values_at_every_cut(pieces: None) -> None:
    lines = _rows([["1", "2", "3"]] * 6)
    assert _check(lines)
    for at in range(len(lines) + 1):
        assert not _check([*lines[:at], "", *lines[at:]])
    rows = [["1", "2", "3"]] * 6
    for at in range(6):
        assert not _check(_rows([*rows[:at], ["1", "2", "3,"], *rows[at + 1 :]]))
        assert not _check(_rows([*rows[:at], ["1", "", "3"], *rows[at + 1 :]]))


@pytest.mark.parametrize(
    "key", ["captureData", "endpointInput", "data", "encoding", "inferenceId", "inferenceTime"]
)
def test_keys_are_matched_as_the_line_reader_matches_them(key: str) -> None:
    """JSON keys (and the line reader) are case-sensitive (SQL JSON readers' names are not): a
    key spelled in other case is read as absent, or the block goes line by line."""
    lines = _rows([["1", "2", "3"]] * 5)
    for spelling in (key.upper(), key[0].swapcase() + key[1:]):
        _check([*lines, _line("1,2,3").replace(f'"{key}"', f'"{spelling}"', 1)])
    tenant = _line("1,2,3", client="x").replace('"inferenceId"', '"Tenant"')
    assert not _check([tenant], spec="field:tenant")


_FIRST = '"inferenceTime": "2020-01-01T00:00:00Z", "inferenceTime": "2026-11-30T10:00:00Z"'


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('{"captureData": ', '{"captureData": {"endpointInput": {"data": "9,9,9,9", '
         '"encoding": "CSV"}}, "captureData": '),
        ('"captureData": {"endpointInput": ', '"captureData": {"endpointInput": {"data": '
         '"9,9,9,9", "encoding": "CSV"}, "endpointInput": '),
        ('"data": "1,2,3,4"', '"data": "9,9,9,9", "data": "1,2,3,4"'),
        ('"encoding": "CSV"', '"encoding": "BASE64", "encoding": "CSV"'),
        ('"encoding": "CSV"', '"encoding": "CSV", "encoding": "BASE64"'),
        ('"endpointOutput": ', '"endpointOutput": {"data": "0.9,0.1", "encoding": "CSV"}, '
         '"endpointOutput": '),
        ('"data": "0.2,0.8"', '"data": "0.9,0.1", "data": "0.2,0.8"'),
        ('"data": "0.2,0.8", "encoding": "CSV"',
         '"data": "0.2,0.8", "encoding": "CSV", "encoding": "BASE64"'),
        ('"eventMetadata": ', '"eventMetadata": {"inferenceId": "zz:1"}, "eventMetadata": '),
        ('"inferenceId": "c1:1"', '"inferenceId": "zz:1", "inferenceId": "c1:1"'),
        ('"inferenceTime": "2026-11-30T10:00:00Z"', _FIRST),
    ],
)  # fmt: skip
def test_duplicate_keys_at_every_level_are_read_as_the_line_reader_reads_them(
    old: str, new: str, pieces: None
) -> None:
    """The line reader keeps the last of duplicate keys (as orjson and json.loads do); the
    columnar reader parses each line with the same parser, so a duplicate among the keys read,
    at any level, is read in columns with the last one counting (compared line by line)."""
    lines = _rows([["1", "2", "3", "4"]] * 20)
    odd = _line("1,2,3,4", client="c1:1")
    assert old in odd  # (the first place it occurs: the input's encoding before the output's)
    assert _check([*lines, odd])
    doubled = odd.replace(old, new, 1)
    taken = _check([*lines[:5], doubled, *lines[5:]])
    # the last key counts: a BASE64 encoding last sends the line (and the block) line by line
    assert taken == (not new.endswith('"encoding": "BASE64"'))
