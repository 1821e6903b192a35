"""Class 3 of issue 10 (pickle half): parse exactly what CPython's ``_pickle`` parses.

Every test runs the real unpickler on the same bytes in the sandboxed worker of
:mod:`tests.scan_models.differential` (recording stand-ins, nothing executes) and requires
mlstix to report an error exactly where the real reader fails, and every non-allowlisted
name the real reader invokes at high or above. The random tests are seeded through hypothesis
(``derandomize``) so CI runs the same inputs every time; ``benchmarks/fuzz_models.py`` runs the
same checks with a long budget.
"""

from __future__ import annotations

import base64
import io
import pickle
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream

from . import builders as b
from .differential import RealReaders, check_pickle
from .differential.generate import mutate, opcode_stream

REAL = Path(__file__).with_name("real") / "pickling"
_FAST = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def real() -> Iterator[RealReaders]:
    with RealReaders() as readers:
        yield readers


def agree(real: RealReaders, data: bytes) -> None:
    problems = check_pickle(data, real.pickle(data))
    assert problems == [], (data, problems)


@pytest.mark.parametrize(
    "line",
    [b"0", b"1", b"00", b"01", b"+1", b"-0", b" 7", b"010", b"08", b"0x1f", b"0X1F", b"0o7",
     b"0b11", b"1_000", b"1__0", b"9" * 30, b"12\x00junk", b"\x00", b"", b" ", b"x", b"0x",
     b"1e3", b"-9223372036854775809", b"\t5", b"5 "],
)  # fmt: skip
@pytest.mark.parametrize("opcode", [b"I", b"L"])
def test_integer_literals(real: RealReaders, opcode: bytes, line: bytes) -> None:
    """INT through strtol then PyLong_FromString (base 0), LONG with or without its L."""
    agree(real, opcode + line + b"\n.")
    agree(real, opcode + line + b"L\n.")


@pytest.mark.parametrize(
    "line",
    [b"1.5", b"-0.0", b"inf", b"-Infinity", b"nan", b"NaN", b"1e999", b"-1e999", b"1e-999",
     b".5", b"5.", b"1_0.0", b" 1.0", b"1.0 ", b"0x1p3", b"1e", b"1.5\x00x", b"", b"+.5e+3",
     b"infinit", b"1.5L"],
)  # fmt: skip
def test_float_literals(real: RealReaders, line: bytes) -> None:
    agree(real, b"F" + line + b"\n.")


@pytest.mark.parametrize(
    "line",
    [b"'abc'", b'"q"', b"'a\\x41'", b"'\\x4'", b"'bad", b"'\\'", b"''", b"noquote", b"'a\\q'",
     b"'\\n'", b"\"mixed'", b"'", b"'\xff'"],
)  # fmt: skip
def test_string_literals(real: RealReaders, line: bytes) -> None:
    agree(real, b"S" + line + b"\n.")


@pytest.mark.parametrize(
    "line", [b"abc", b"\\u0041", b"\\u00", b"\\U0010ffff", b"\\U00110000", b"caf\xe9", b""]
)
def test_unicode_literals(real: RealReaders, line: bytes) -> None:
    agree(real, b"V" + line + b"\n.")


@pytest.mark.parametrize(
    "data",
    [
        b"K\x01K\x02.",  # STOP takes the top; what lies below is left behind
        b"(K\x01.",  # ... but not across a MARK
        b"K\x01(.",
        b".",  # STOP on an empty stack
        b"",
        b"N}p-1\n.",  # negative PUT
        b"N}p0x1\n.",  # PUT is decimal
        b"N}p+1\n0g+1\n.",
        b"N}p1_0\n0g10\n.",
        b"N\x94\x94h\x01.",  # MEMOIZE counts the memo, not the stack
        b"Np5\n\x94h\x01.",  # ... after a PUT to 5, MEMOIZE stores at 1
        b"\x80\x06N.",  # protocol 6 does not exist
        b"\x80\x05\x80\x02N.",  # PROTO may repeat
        b"\x95\x02\x00\x00\x00\x00\x00\x00\x00N.",  # FRAME first, no PROTO
        b"\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00N.",  # FRAME longer than the data
        b"(K\x01K\x02K\x03d.",  # DICT with an odd number of items
        b"}(K\x01u.",  # SETITEMS odd
        b"}(]K\x01u.",  # unhashable key
        b"\x8f(]\x90.",  # unhashable set item
        b"K\x01(\x90.",  # ADDITEMS with no items: nothing to do, no check
        b"K\x01(e.",  # APPENDS with no items
        b"K\x01K\x02a.",  # APPEND onto an int
        b"\x80\x02K\x01)R.",  # calling an int
        b"\x80\x02cacme\nf\nK\x01R.",  # REDUCE arguments not a tuple
        b"\x80\x02cacme\nf\nN\x81.",  # NEWOBJ arguments not a tuple
        b"\x80\x04K\x01K\x02\x93.",  # STACK_GLOBAL of ints
        b"\x80\x02\x82\x00.",  # EXT code 0
        b"\x80\x02cbuiltins\ngetattr\ncacme\nBox\nVrun\n\x86\x81.",  # NEWOBJ on a function
        b"\x80\x02ccopyreg\n_reconstructor\n)\x81.",
        b"\x80\x02cnumpy._core.multiarray\n_reconstruct\n)\x81.",
        b"\x80\x04\x8c\x00\x8c\x05Popen\x93.",  # STACK_GLOBAL of an empty module name
        b"\x80\x04\x8c\x02os\x8c\x00\x93.",  # ... an empty attribute: os is imported first
        b"\x80\x05C\x01a\x98.",  # READONLY_BUFFER on bytes
        b"\x80\x05\x97.",  # NEXT_BUFFER without buffers
        b"c\nname\n.",  # GLOBAL with an empty module line
        b"Pabc\n.",  # PERSID (the loaders that matter pass persistent_load)
        b"\x80\x02]N}b.",  # BUILD with state onto a list
        b"\x80\x02]Nb.",  # BUILD None onto a list: nothing to do
        b"\x80\x04\x8a\x00.",  # LONG1 of zero bytes
        b"\x80\x04\x8b\xff\xff\xff\xff.",  # LONG4 negative
    ],
)
def test_stack_memo_and_protocol_rules(real: RealReaders, data: bytes) -> None:
    agree(real, data)


def test_a_read_across_a_frame_end_is_an_error() -> None:
    """io.BytesIO (what torch.load gives its unpickler) drops the rest of a frame when a read
    crosses its end; pickle.loads reads on. Here one imports acme.tools.Runner, the other
    ols.Runner: mlstix cannot follow both, so the file is an error."""
    data = b"\x80\x04\x95\x08\x00\x00\x00\x00\x00\x00\x00cacme.tools\nRunner\n)R."
    with RealReaders() as real:
        result = real.pickle(data)
    assert "ols.Runner" in result.resolved  # the no-peek view
    analyzed = analyze_pickle_stream(io.BytesIO(data), ImportPolicy())
    assert analyzed.malformed is not None and "FRAME" in analyzed.malformed[0]


def _frame(size: int) -> bytes:
    return b"\x95" + size.to_bytes(8, "little")


@pytest.mark.parametrize(
    "data",
    [
        # a FRAME inside a frame that fits in it: a read and a rewind inside the C unpickler's
        # buffer, nothing changes (only pickle.py's _Unframer refuses it; no loader uses it)
        b"\x80\x04" + _frame(15) + b"K\x01" + _frame(3) + b"K\x02\x86.",
        # found by benchmarks/fuzz_models.py --seed 5: FRAME 64, then FRAME 1 inside it
        base64.b64decode(
            "KJVAAAAAAAAAAIoDqPQBSQAxCpUBAAAAAAAAAC4ylgIAAAAAAAAA//5TJ1xuJwqGKEMCaWRjdG9yY2guX3V0"
            "aWxzCl9yZWJ1aWxkX3RlbnNvcl92MgpDBNHNR7pVBR2B2UC6ZYaNAgAAAAAAAAD//jIoiwAAEABoAC4="
        ),
    ],
)
def test_a_frame_inside_a_frame_is_read_as_the_c_unpickler_reads_it(
    real: RealReaders, data: bytes
) -> None:
    agree(real, data)
    assert analyze_pickle_stream(io.BytesIO(data), ImportPolicy()).malformed is None


def test_a_frame_running_past_the_current_frame_is_an_error(real: RealReaders) -> None:
    """The nested FRAME's read crosses the outer frame's end: io.BytesIO drops the MARK left in
    the outer frame and fails, a file with peek reads it: loaders disagree, an error."""
    data = b"\x80\x04" + _frame(10) + _frame(4) + b"(" + b"K\x01t."
    result = real.pickle(data)
    assert not result.ok and result.views_disagree
    analyzed = analyze_pickle_stream(io.BytesIO(data), ImportPolicy())
    assert analyzed.frame_straddle and analyzed.malformed is not None


def test_trailing_data_after_stop_is_not_an_error(real: RealReaders) -> None:
    data = pickle.dumps([1, 2], protocol=4) + b"\x00 trailing bytes, not a pickle"
    result = analyze_pickle_stream(io.BytesIO(data), ImportPolicy())
    assert real.pickle(data).ok and result.malformed is None and result.segments == 1


def test_a_payload_in_a_stacked_pickle_is_found(real: RealReaders) -> None:
    data = pickle.dumps([1, 2], protocol=2) + b.call_pickle("os", "system", "id")
    stacked = real.pickle(data, stacked=True)
    assert "os.system" in stacked.invoked
    assert check_pickle(data, stacked, stacked=True) == []


@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 16))
@settings(_FAST, max_examples=400)
def test_generated_opcode_streams_agree(real: RealReaders, seed: int, length: int) -> None:
    agree(real, opcode_stream(random.Random(seed), length))


_SEEDS = sorted(p.name for p in REAL.glob("*.pkl"))
_GETATTR_CHAIN = (
    b"\x80\x04" + b.global_op("builtins", "getattr") + b.global_op("builtins", "__import__")
    + b.unicode_op("os") + b"\x85R" + b.unicode_op("system") + b"\x86R"
    + b.unicode_op("id") + b"\x85R."
)  # fmt: skip


@given(name=st.sampled_from(_SEEDS), seed=st.integers(0, 2**32 - 1))
@settings(_FAST, max_examples=150)
def test_mutated_library_pickles_agree(real: RealReaders, name: str, seed: int) -> None:
    agree(real, mutate(random.Random(seed), (REAL / name).read_bytes()))


@pytest.mark.parametrize(
    "data",
    [
        b.stack_global_pickle("subprocess", "Popen", "id"),  # names through the memo
        b"(V/bin/sh\nios\nsystem\n.",  # INST
        b"\x80\x02(" + b.global_op("subprocess", "Popen") + b"Vid\no.",  # OBJ
        b"\x80\x02" + b.global_op("socket", "socket") + b")\x81.",  # NEWOBJ
        _GETATTR_CHAIN,
        b"\x80\x02cos\nsyst" + "\u00e9".encode() + b"m\n)R.",  # UTF-8 names
        b"\x80\x02c__builtin__\neval\n(V1\ntR.",  # Python 2 names
        b"\x80\x02" + b.global_op("acme", "Box") + b")R}b.",  # BUILD on what a call built
        b"\x80\x04\x95\x30\x00\x00\x00\x00\x00\x00\x00" + b.call_pickle("os", "system", "id")[2:],
    ],
)
def test_public_bypass_fixtures_agree(real: RealReaders, data: bytes) -> None:
    agree(real, data)


@pytest.mark.parametrize("args", [b"]Vrm -rf /tmp/x\na", b"Vrm\n", b"}Vrm\nK\x01s"])
def test_the_python_unpickler_reduces_with_any_iterable(real: RealReaders, args: bytes) -> None:
    """pickle._Unpickler (joblib.load's) calls ``func(*args)``: a list, a string or a dict of
    arguments runs where _pickle refuses. The call is reported, and the file is an error."""
    data = b"\x80\x02" + b.global_op("acme.tools", "run") + args + b"R."
    result = real.pickle_py(data)
    assert "acme.tools.run" in result.invoked
    problems = check_pickle(data, result)
    assert [p for p in problems if "reports it at level" in p] == []  # names; not acceptance
    analyzed = analyze_pickle_stream(io.BytesIO(data), ImportPolicy())
    assert analyzed.imports["acme.tools.run"].called and analyzed.malformed is not None


_RUN = b"cacme.tools\nrun\n(Vrm -rf /tmp/x\ntR"


@pytest.mark.parametrize(
    "data",
    [
        b"(V/bin/sh\nios\nsystem.",  # the last line without its newline: readline()[:-1]
        b"\x80\x02ios\nsystem\n.",  # INST imports before it looks for the MARK
        b"F1_0.0\n0" + _RUN + b".",  # float() takes underscores
        b"F1.0 \n0" + _RUN + b".",  # ... and surrounding whitespace
        b"\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00" + _RUN + b".",  # FRAME past the end
        b"\x80\x02\x89\x89b" + _RUN + b".",  # BUILD with a false state on a literal
        b"\x80\x02cacme.tools\nRunner\nC\x03abc\x81.",  # NEWOBJ spreads bytes as *args
    ],
)
def test_what_only_the_python_unpickler_reads_is_followed(real: RealReaders, data: bytes) -> None:
    """joblib.load runs pickle._Unpickler: where _pickle refuses the stream (an error for the
    file), the names the Python unpickler goes on to import and call are still reported."""
    result = real.pickle_py(data)
    assert result.invoked or result.resolved
    problems = check_pickle(data, result)
    assert [p for p in problems if "reports it at level" in p] == []
    assert analyze_pickle_stream(io.BytesIO(data), ImportPolicy()).malformed is not None
