"""Class 3 of issue 10 (joblib): the plain-pickle view of a joblib file judges what
``pickle.load`` (``torch.load``, ``pandas.read_pickle``) would import and call there.

From joblib's first array on, the plain unpickler reads array bytes as opcodes. Whatever it
imports and calls there counts as in any pickle (a non-allowlisted callable it invokes is
high), except names it cannot import at all: names that are no dotted identifiers, and names
an object array's nested pickle builds from what the outer pickle memoized (read against the
outer memo, a real dump makes names of whatever the memo holds). Each test runs CPython's
unpickler in the sandboxed worker of :mod:`tests.scan_models.differential`, with ``findable``:
an import of a module this environment does not hold fails there as in a real process.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream

from . import builders as b
from .conftest import Scan, imports
from .differential import RealReaders, check_pickle, mlstix_levels
from .differential.generate import mutate
from .test_class3_joblib_arrays import _dtype, _joblib, _state

pytest.importorskip("joblib", reason="the real joblib reader is needed")

REAL = Path(__file__).with_name("real") / "pickling"
_GADGET = ("string", "capwords")  # exists everywhere, allowlisted nowhere, not a denied name


@pytest.fixture(scope="module")
def real() -> Iterator[RealReaders]:
    with RealReaders() as readers:
        yield readers


def _float_array(array: bytes, prefix: bytes = b"") -> bytes:
    """A joblib dump of one float64 array whose bytes are ``array`` (padded with NONE to a
    whole number of items); ``prefix``: opcodes before the wrapper (the outer pickle)."""
    array += b"N" * (-len(array) % 8)
    data = _joblib(_dtype("f8", _state("<", -1, 0)), len(array) // 8, array, align=None)
    return data[:2] + prefix + data[2:]


_INLINE = b.global_op(*_GADGET) + b"(" + b"Vhello world\n" + b"tR0"
# the module and name memoized by the outer pickle (BINPUT 0, 1), fetched in the array bytes
_MEMO_PREFIX = b.unicode_op(_GADGET[0]) + b"q\x000" + b.unicode_op(_GADGET[1]) + b"q\x010"
_FROM_MEMO = b"h\x00h\x01\x93" + b"(" + b"Vhello\n" + b"tR0"


@pytest.mark.parametrize(
    ("array", "prefix"),
    [(_INLINE, b""), (_FROM_MEMO, _MEMO_PREFIX)],
    ids=["inline-global", "stack-global-from-the-outer-memo"],
)
def test_an_unknown_gadget_in_array_bytes_is_high(
    real: RealReaders, array: bytes, prefix: bytes
) -> None:
    """joblib.load skips the bytes as floats; pickle.load imports and calls the gadget."""
    data = _float_array(array, prefix)
    as_joblib = real.joblib(data)
    qualname = ".".join(_GADGET)
    assert as_joblib.ok and qualname not in as_joblib.resolved
    as_pickle = real.pickle(data, findable=True)
    assert as_pickle.ok and qualname in as_pickle.invoked
    levels = mlstix_levels(analyze_pickle_stream(io.BytesIO(data), ImportPolicy()))
    assert levels.get(qualname, 0) >= 3


def test_the_gadget_is_reported_by_the_scan(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "model.joblib").write_bytes(_float_array(_INLINE))
    assert imports(scan(tmp_path), "models/pickle-unallowed-call") == {"string.capwords"}


def test_a_name_no_module_can_have_is_no_finding(real: RealReaders) -> None:
    """Array bytes that read as an import of ``no such.mod`` (no dotted identifier): the real
    loader stops there, nothing is imported or called."""
    data = _float_array(b.global_op("no such", "mod x") + b")R0")
    as_pickle = real.pickle(data, findable=True)
    assert not as_pickle.ok and "No module named 'no such'" in str(as_pickle.error)
    assert mlstix_levels(analyze_pickle_stream(io.BytesIO(data), ImportPolicy())) == {}


@pytest.mark.parametrize(
    "name",
    [
        "joblib_raw.joblib",
        "joblib_structured_O_fields.joblib",
        "joblib_structured_O_fields_proto0.joblib",
        "joblib_pipeline_frame_p2.joblib",
        "joblib_pipeline_frame_p5.joblib",
        "sklearn_logreg.joblib",
        "sklearn_grid_search.joblib",
    ],
)
def test_real_joblib_dumps_read_as_plain_pickles_agree(real: RealReaders, name: str) -> None:
    """What pickle.load imports and invokes in a real dump (the object arrays' nested pickles
    read against the outer memo included) is allowlisted, and mlstix reports nothing."""
    data = (REAL / name).read_bytes()
    policy = ImportPolicy()
    as_pickle = real.pickle(data, findable=True)
    unallowed = {
        e.qualname
        for e in as_pickle.events
        if e.module != "<persistent>" and policy.verdict(e.module, e.name) != "allowed"
    }
    assert unallowed == set()
    assert mlstix_levels(analyze_pickle_stream(io.BytesIO(data), policy)) == {}


@pytest.mark.parametrize("seed", range(40))
def test_mutated_joblib_dumps_read_as_plain_pickles_agree(real: RealReaders, seed: int) -> None:
    """Byte mutations of the real dumps (benchmarks/fuzz_models.py --reader plain runs
    longer): every non-allowlisted name pickle.load invokes is reported at high or above."""
    rng = random.Random(seed)
    name = rng.choice(["joblib_raw.joblib", "joblib_structured_O_fields.joblib",
                       "sklearn_logreg.joblib", "sklearn_grid_search.joblib"])  # fmt: skip
    for _ in range(10):
        data = mutate(rng, (REAL / name).read_bytes(), rng.randrange(1, 6))
        problems = [
            p
            for p in check_pickle(data, real.pickle(data, findable=True))
            if not p.startswith(("real reader fails", "real reader succ"))
        ]
        assert problems == [], (problems, data)


def test_a_cleared_object_flag_in_array_bytes_is_high() -> None:
    """An object dtype whose state clears its has-object flag (raw bytes become object
    pointers), built where joblib reads floats: pickle.load builds it."""
    data = _float_array(_dtype("O8", _state("|", -1, 0)) + b"0")
    result = analyze_pickle_stream(io.BytesIO(data), ImportPolicy())
    assert any("has-object flag cleared" in c for c in result.chains)
    assert mlstix_levels(result).get("*", 0) >= 3


@pytest.mark.parametrize(
    "fetch",
    [b"h\x00h\x01", b.unicode_op("string") + b"h\x01"],
    ids=["module-and-name-from-the-memo", "name-from-the-memo"],
)
def test_a_name_chosen_through_the_outer_memo_in_a_nested_pickle_is_high(
    real: RealReaders, fetch: bytes
) -> None:
    """An object array's nested pickle (protocol 4: MEMOIZE) that joblib reads with its own
    memo (``numpy.dtype``; ``string.dtype`` in the second case): pickle.load reads it against
    the outer memo, whose entries 0 and 1 the outer pickle set to the gadget's module and
    name. Dumps joblib wrote fetch a module there (``<memo string>.dtype``: no such module)
    with their own attribute name, never the attribute name (49 benign dumps, protocols
    2-5)."""
    nested = (
        b"\x80\x04" + b.unicode_op("numpy") + b"\x94" + b.unicode_op("dtype") + b"\x940" + b"0"
        + fetch + b"\x93" + b.unicode_op("f8") + b"\x85R."
    )  # fmt: skip
    data = _joblib(_dtype("O8", _state("|", -1, 63)), 1, nested, align=None)
    data = data[:2] + _MEMO_PREFIX + data[2:]
    qualname = ".".join(_GADGET)
    assert qualname not in real.joblib(data).resolved
    as_pickle = real.pickle(data, findable=True)
    assert qualname in as_pickle.invoked
    levels = mlstix_levels(analyze_pickle_stream(io.BytesIO(data), ImportPolicy()))
    assert levels.get(qualname, 0) >= 3
