"""Class 3 of issue 10 (joblib): read joblib's arrays exactly as ``joblib.load`` reads them,
and a joblib file also as every other loader reads it.

``joblib.load`` takes an array's bytes from the stream after the BUILD of its wrapper; whether
they are raw data or a nested pickle is decided by the dtype object's has-object flag, which
NumPy takes from the dtype's pickled state (not from its type string), and the padding by the
wrapper's attributes. ``pickle.load``, ``torch.load`` and ``pandas.read_pickle`` read the same
bytes as opcodes. Each test runs the real reader (joblib's own ``NumpyUnpickler``, CPython's
unpickler) in the sandboxed worker of :mod:`tests.scan_models.differential`.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream
from mlstix.scan.models.pickles.result import PickleResult

from . import builders as b
from .conftest import Scan, imports
from .differential import RealReaders, check_pickle

pytest.importorskip("joblib", reason="the real joblib reader is needed")

REAL = Path(__file__).with_name("real") / "pickling"
_PAYLOAD = b.call_pickle("os", "system", "id", proto=2)  # a whole pickle: PROTO ... STOP


@pytest.fixture(scope="module")
def real() -> Iterator[RealReaders]:
    with RealReaders() as readers:
        yield readers


def _analyze(data: bytes) -> PickleResult:
    return analyze_pickle_stream(io.BytesIO(data), ImportPolicy())


def _dtype(descr: str, state: bytes) -> bytes:
    """``numpy.dtype(descr, False, True)`` then BUILD with ``state`` (a pickled tuple)."""
    return b.global_op("numpy", "dtype") + b.unicode_op(descr) + b"\x89\x88\x87R" + state + b"b"


def _state(endian: str, elsize: int, flags: int) -> bytes:
    """A version-3 dtype state as ``numpy.dtype.__reduce__`` writes it (8 items)."""
    return (
        b"(K\x03" + b.unicode_op(endian) + b"NNN"
        + b"J" + struct.pack("<i", elsize) + b"J" + struct.pack("<i", -1 if elsize < 0 else 1)
        + b"J" + struct.pack("<i", flags) + b"t"
    )  # fmt: skip


def _joblib(dtype: bytes, count: int, array: bytes, *, align: bytes | None = b"K\x10") -> bytes:
    """A joblib stream holding one array: the wrapper built by NEWOBJ with a state dict (as
    joblib writes it), then ``array`` (the bytes joblib reads), then a STOP."""
    state = (
        b"}(" + b.unicode_op("subclass") + b.global_op("numpy", "ndarray")
        + b.unicode_op("shape") + b"J" + struct.pack("<i", count) + b"\x85"
        + b.unicode_op("order") + b.unicode_op("C") + b.unicode_op("dtype") + dtype
        + b.unicode_op("allow_mmap") + b"\x89"
        + (b.unicode_op("numpy_array_alignment_bytes") + align if align is not None else b"")
        + b"u"
    )  # fmt: skip
    wrapper = b.global_op("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"b"
    return b"\x80\x02" + wrapper + array + b"."


@pytest.mark.parametrize(
    "name",
    [
        "joblib_structured_O_fields.joblib",
        "joblib_structured_O_fields_proto0.joblib",
        "joblib_raw.joblib",
        "sklearn_logreg.joblib",
        "sklearn_grid_search.joblib",
    ],
)
def test_real_joblib_files_are_read_as_joblib_reads_them(real: RealReaders, name: str) -> None:
    """Structured arrays with object fields (nested, in a subarray) are nested pickles because
    their dtype's state says so; written by joblib.dump (see real/make_pickling.py)."""
    data = (REAL / name).read_bytes()
    result = real.joblib(data)
    assert result.ok, result.error
    assert check_pickle(data, result) == []
    analyzed = _analyze(data)
    assert analyzed.malformed is None and analyzed.joblib_arrays


def test_a_float_dtype_whose_state_says_objects_hides_a_nested_pickle(real: RealReaders) -> None:
    """``float64`` with flag bit 0 set in its state: NumPy's hasobject is true, joblib reads a
    nested pickle where the type name promises 8-byte floats. The payload is as long as the
    floats would be, so a reader going by the type name skips it and reads on cleanly."""
    core = _PAYLOAD[:-1]
    nested = core + b"N" * (-(len(core) + 1) % 8) + b"."
    data = _joblib(_dtype("f8", _state("<", -1, 1)), len(nested) // 8, nested, align=None)
    result = real.joblib(data)  # fails after the payload ran (os.system's result is no array)
    assert "os.system" in result.invoked
    analyzed = _analyze(data)
    assert analyzed.imports["os.system"].called and analyzed.imports["os.system"].command


@pytest.mark.parametrize("flags", [0, 1, 63, -127])
def test_the_dtype_state_decides_between_raw_bytes_and_a_nested_pickle(
    real: RealReaders, flags: int
) -> None:
    """The same stream with the flags NumPy reads from the state: raw 16 bytes (flags 0) or a
    nested pickle of an object array (flags with bit 0; -127 is the old signed-char form)."""
    np = pytest.importorskip("numpy")
    nested = pickle.dumps(np.array([None, "a"], dtype=object), protocol=2)
    raw = b"(cos\nsystem\n\x00\x00\x00."  # 16 bytes that are opcodes only if misread
    array = nested if flags & 1 or flags == -127 else raw
    data = _joblib(_dtype("V16", _state("|", 16, flags)), 1, array, align=None)
    result = real.joblib(data)
    assert result.ok, result.error
    assert check_pickle(data, result) == []
    assert _analyze(data).malformed is None


def test_an_alignment_attribute_of_none_reads_no_padding(real: RealReaders) -> None:
    """``numpy_array_alignment_bytes`` present but None: joblib reads no padding byte."""
    data = _joblib(_dtype("f8", _state("<", -1, 0)), 1, b"\x00" * 8, align=b"N")
    result = real.joblib(data)
    assert result.ok, result.error
    assert check_pickle(data, result) == []
    assert _analyze(data).malformed is None


def test_an_object_dtype_with_its_object_flag_cleared_is_high() -> None:
    """``O8`` whose state clears the has-object bit: joblib (and ndarray.__setstate__) take
    raw file bytes as object pointers. Not run through the real reader: that is the crash."""
    data = _joblib(_dtype("O8", _state("|", -1, 0)), 1, b"\x00" * 8, align=None)
    result = _analyze(data)
    assert any("has-object flag cleared" in c for c in result.chains)
    assert any(h.rule_id == "models/pickle-unallowed-call" for h in result.hits(None, "pickle"))


def test_a_wrapper_built_by_calling_it_with_arguments_is_an_error() -> None:
    """Called with arguments, ``__init__`` sets the attributes (padding on by default): joblib
    never writes that, and mlstix does not guess."""
    wrapper = (
        b.global_op("joblib.numpy_pickle", "NumpyArrayWrapper")
        + b"(" + b.global_op("numpy", "ndarray") + b"K\x01\x85" + b.unicode_op("C")
        + _dtype("f8", _state("<", -1, 0)) + b"tR}b"
    )  # fmt: skip
    data = b"\x80\x02" + wrapper + b"\x00" * 9 + b"."
    result = _analyze(data)
    assert result.malformed is not None and "arguments" in result.malformed[0]


def _polyglot() -> bytes:
    """A joblib dump whose padding byte is an opcode (78, 'N') and whose padding is a payload:
    joblib.load skips it, pickle.load runs it."""
    head = _joblib(_dtype("f8", _state("<", -1, 0)), 8, b"")[:-1]
    body = _PAYLOAD[2:-1] + b"0"
    pad = (body + b"N0" * 40)[:78]
    return head + bytes([78]) + pad + b"N0" * 32 + b"."


def test_a_payload_in_joblib_padding_is_found_in_the_plain_pickle_view(real: RealReaders) -> None:
    data = _polyglot()
    as_joblib, as_pickle = real.joblib(data), real.pickle(data)
    assert as_joblib.ok and "os.system" not in as_joblib.invoked
    assert as_pickle.ok and "os.system" in as_pickle.invoked
    assert check_pickle(data, as_pickle) == []
    result = _analyze(data)
    assert result.imports["os.system"].called and result.malformed is None


def test_the_plain_view_of_a_real_object_array_raises_nothing() -> None:
    """pickle.load reads an object array's nested pickle against the outer memo: names made of
    whatever the memo holds, which it fails to import. Not a finding."""
    data = (REAL / "joblib_structured_O_fields.joblib").read_bytes()
    levels = {h.rule_id for h in _analyze(data).hits(None, "pickle")}
    assert levels == set()


@pytest.mark.parametrize(
    ("filename", "outside"),
    [
        ("model.pkl_01.npy", False),
        ("/tmp/cache/evil.npy", True),
        ("../shared/evil.npy", True),
        ("sub/../../evil.npy", True),
        ("C:\\\\temp\\\\evil.npy", True),
    ],
)
def test_an_old_joblib_companion_file_outside_the_folder_is_high(
    filename: str, outside: bool
) -> None:
    """joblib < 0.10 wrappers name a companion file that joblib.load reads with
    numpy.load(allow_pickle=True), joined to the pickle's folder: one from elsewhere is a
    pickle nobody scanned."""
    state = b"}(" + b.unicode_op("filename") + b.unicode_op(filename) + b"u"
    data = (
        b"\x80\x02"
        + b.global_op("joblib.numpy_pickle", "NDArrayWrapper")
        + b")\x81"
        + state
        + b"b."
    )
    hits = {h.rule_id for h in _analyze(data).hits(None, "pickle")}
    assert ("models/pickle-unallowed-call" in hits) is outside, hits


def test_a_stream_only_pickle_load_reads_gets_no_joblib_reading(tmp_path: Path, scan: Scan) -> None:
    """A NumPy object array's pickle (numpy.load) holding joblib's wrapper: numpy reads the
    "array bytes" as opcodes, so a plain gadget there (no command, no known-dangerous name)
    is an unallowed call, not skipped data."""
    gadget = b.global_op("acme.tools", "run") + b")R0"  # 16 bytes: two float64
    stream = _joblib(_dtype("f8", _state("<", -1, 0)), 2, gadget, align=None)
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + stream
    (tmp_path / "a.npy").write_bytes(npy)
    assert "acme.tools.run" in imports(scan(tmp_path / "a.npy"), "models/pickle-unallowed-call")
