"""The columnar reader's compiled loop (``_kread.numbers``) against the line reader and against
its simdjson twin, on the same texts: every number it reads is the double the line reader
(orjson on ``[row]``, as ``_features._row`` reads a CSV row) makes of it, sign of zero
included; it refuses what the line reader would not read as such a row; and it reads what the
simdjson path reads, with the same counts. Texts: numbers as writers print them, every spelling
Python's ``float()`` also accepts (which the line reader's fallback would take, so the fast
path must refuse them), and garbage."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlstix.detect.inference import _fast
from mlstix.detect.inference._records import parse_time

_KERNEL = _fast._kernel()
_built = pytest.mark.skipif(
    _KERNEL is None, reason="the compiled loop _kread is not built (no C compiler at install?)"
)


def _line_reader(text: str) -> list[float] | None:
    """The doubles the line reader takes from a CSV row (orjson's reading of ``[text]``:
    whole numbers as integers, others as doubles), or None when it would not read it so."""
    if "\n" in text:
        return None
    try:
        values = orjson.loads("[" + text + "]")
    except orjson.JSONDecodeError:
        return None
    if not all(type(v) in (int, float) for v in values) or (text and not values):
        return None  # (blanks alone: _row finds no number, and float() refuses them)
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        return None
    return [float(v) for v in values]


def _kernel(texts: list[Any]) -> tuple[list[float], list[int]] | None:
    assert _KERNEL is not None
    read = _KERNEL.numbers(texts)
    if read is None:
        return None
    return np.frombuffer(read[0]).tolist(), np.frombuffer(read[1], np.int64).tolist()


def _same(got: list[float], wanted: list[float]) -> bool:
    return len(got) == len(wanted) and all(
        a == b and math.copysign(1, a) == math.copysign(1, b)
        for a, b in zip(got, wanted, strict=True)
    )


def _styles(value: float) -> list[str]:
    return [repr(value), f"{value:.17g}", f"{value:e}", f"{value:.3E}", f"{value:g}",
            f"{value:.0f}", str(int(value)) if abs(value) < 1e18 else "1"]  # fmt: skip


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_written = st.builds(lambda v, k: _styles(v)[k % 7], _finite, st.integers(0, 6))
_space = st.sampled_from(["", " ", "\t", "\r", "  "])
_padded = st.builds(lambda a, v, b: a + v + b, _space, _written, _space)
_rows = st.lists(_padded, min_size=0, max_size=8).map(",".join)
# what float() takes and JSON does not, and plain garbage
_odd = st.sampled_from(["nan", "NaN", "inf", "-Infinity", "+1", "1.", ".5", "01", "-01", "1_000",
                        "0x10", "1e", "1e+", "-", "--1", "1..2", "1e5.5", "\u0661", "\u00a01",
                        "1\x0c", "1\n2", "[1]", "true", "null", '"1"', "1,,2", ",1", "1,",
                        " ", "1 2", "1e400", "-1e400", "4.9e-325", "1e-400", "0e999999",
                        "-0", "-0.0", "-0e-5", "123456789012345678901234567890"])  # fmt: skip
_garbage = st.text(alphabet="0123456789.-+eE, \t\r\nnaifx[]_", max_size=24)
_text = st.one_of(_rows, _odd, _garbage, st.builds(lambda a, b: a + "," + b, _rows, _odd))


@_built
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_text)
def test_each_text_is_read_as_the_line_reader_reads_it_or_refused(text: str) -> None:
    wanted = _line_reader(text) if text else []
    got = _kernel([text])
    if got is None:
        # refused: only what the line reader would not read as a row of JSON numbers
        assert wanted is None or not text.isascii()
        return
    values, counts = got
    assert wanted is not None, f"{text!r} read by the kernel, not as JSON numbers"
    assert counts == [len(values)]
    assert _same(values, wanted), (text, values, wanted)


@_built
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_text, min_size=1, max_size=6))
def test_the_kernel_and_simdjson_read_alike(texts: list[str]) -> None:
    with_kernel = _fast.FastReader(("field", "client"), True)
    assert with_kernel.kernel is not None
    pytest.importorskip("simdjson")
    twin = _fast.FastReader(("field", "client"), True)
    twin.kernel = None
    import simdjson

    twin.parser, twin.array = simdjson.Parser(), simdjson.Array
    one, two = with_kernel._split(texts), twin._split(texts)
    assert (one is None) == (two is None), texts
    if one is not None and two is not None:
        assert _same(one[0].tolist(), two[0].tolist()) and one[1].tolist() == two[1].tolist()


@_built
def test_counts_and_refusals_over_many_texts() -> None:
    assert _kernel(["1,2,3", "", " 4 ", "5,6"]) == ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 0, 1, 2])
    assert _kernel([]) == ([], [])
    for bad in (["1,2", 3], ["1,2", None], ["1,2", b"1,2"], ["1,2", "1,\u0662"]):
        assert _kernel(bad) is None
    with pytest.raises(TypeError):
        _KERNEL.numbers(("1,2",))


@_built
@pytest.mark.parametrize("digits", [1, 17, 19, 20, 25, 400, 5000])
def test_long_numbers_are_correctly_rounded(digits: int) -> None:
    rng = np.random.default_rng(digits)
    for _ in range(50):
        mantissa = "".join(str(d) for d in rng.integers(0, 10, size=digits)).lstrip("0") or "0"
        for text in (f"0.{mantissa}", f"{mantissa}e-{digits}", f"-{mantissa[:1]}.{mantissa}e-3"):
            got = _kernel([text])
            assert got is not None and _same(got[0], [float(text)]), text


def test_an_unbuilt_kernel_is_not_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fast, "_kernel", lambda: None)
    pytest.importorskip("simdjson")
    reader: Any = _fast.fast_reader("field:client", "classifier")
    assert reader is not None and reader.kernel is None


def test_the_compiled_loop_is_built_on_ci() -> None:
    """On CI (which has a C compiler) the loop must be importable: a broken build may not hide
    behind the simdjson fallback."""
    import importlib
    import os

    if not os.environ.get("CI"):
        pytest.skip("only on CI, which builds the C accelerators")
    assert importlib.import_module("mlstix.detect.inference._kread").ABI == 1


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
                    st.sampled_from(["", "CSV", "csv", "cSv", "BASE64", "1,2", "0.3,0.7", "7",
                                     "c1:7", ":7", "c1", "a::b", "2026-12-01T00:00:00Z",
                                     "2026-12-01 10:00:00.5+01:00", "30/11/2026", "\u017fx"]),
                    st.lists(st.integers(0, 3), max_size=2),
                    st.dictionaries(st.sampled_from(["data", "encoding"]),
                                    st.just("CSV")))  # fmt: skip


def _record(draw: st.DrawFn) -> bytes:
    """A Data Capture line, each part in its usual form or replaced by an odd value."""

    def part(usual: Any) -> Any:
        return usual if draw(st.integers(0, 5)) else draw(_VALUES)

    request = part({"data": part("1,2,3"), "encoding": part("CSV"), "mode": "INPUT"})
    response = part({"data": part("0.2,0.8"), "encoding": part("CSV")})
    meta = part({"inferenceId": part(f"c{draw(st.integers(0, 3))}:1"),
                 "inferenceTime": part("2026-12-01T00:00:00Z"), "tenant": part("t1")})  # fmt: skip
    capture = part({"endpointInput": request, "endpointOutput": response})
    record = part({"captureData": capture, "eventMetadata": meta})
    text = orjson.dumps(record)
    return text if draw(st.integers(0, 20)) else text[:-1]  # now and then not JSON


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(["inference-id-prefix::", "field:tenant", "field:inferenceId"]),
       st.booleans())  # fmt: skip
@_built
def test_the_compiled_field_loop_reads_as_the_python_loop(
    data: st.DataObject, spec: str, classifier: bool
) -> None:
    """Where the compiled loop reads a block, it reads what the Python loop reads (clients,
    bodies, times, and the times remembered); where it declines, the Python loop decides."""
    import types

    lines = data.draw(st.lists(st.builds(lambda: None).flatmap(lambda _: st.composite(
        lambda draw: _record(draw))()), min_size=1, max_size=6))  # fmt: skip
    kind, _, arg = spec.partition(":")
    compiled = _fast.FastReader((kind, arg), classifier)
    python = _fast.FastReader((kind, arg), classifier)
    python.kernel = types.SimpleNamespace(numbers=_KERNEL.numbers)
    try:
        expected: Any = python._fields(lines)
    except _fast._Refused:
        expected = None
    fields = _KERNEL.fields
    sep = arg if kind == "inference-id-prefix" else None
    got = fields(lines, compiled.loads, compiled.field, sep, classifier, compiled.times,
                 parse_time)  # fmt: skip
    if got is None:
        return
    assert expected is not None, lines
    clients, inputs, outputs, times = got
    assert (clients, inputs, outputs) == tuple(expected[:3])
    assert np.array(times).tobytes() == np.array(expected[3]).tobytes()
    assert compiled.times.keys() == python.times.keys()


@_built
def test_the_compiled_field_loop_takes_the_usual_lines() -> None:
    line = orjson.dumps({"captureData": {"endpointInput": {"data": "1,2", "encoding": "CSV"},
                                         "endpointOutput": {"data": "0.1,0.9", "encoding": "CSV"}},
                         "eventMetadata": {"inferenceId": "alice:1",
                                           "inferenceTime": "2026-12-01T00:00:00Z"}})  # fmt: skip
    times: dict[str, float] = {}
    fields = _KERNEL.fields
    got = fields([line, line], orjson.loads, "inferenceId", ":", True, times, parse_time)
    when = 1796083200.0  # 2026-12-01T00:00:00Z
    assert got == (["alice", "alice"], ["1,2", "1,2"], ["0.1,0.9", "0.1,0.9"], [when, when])
    assert times == {"2026-12-01T00:00:00Z": when}
    broken = [b"{", line]
    assert fields(broken, orjson.loads, "inferenceId", ":", True, {}, parse_time) is None

    def interrupted(line: bytes) -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fields([line], interrupted, "inferenceId", ":", True, {}, parse_time)
    with pytest.raises(TypeError):
        fields(line, orjson.loads, "inferenceId", ":", True, {}, parse_time)
