"""Plain-pickle view of a joblib file: the lenient memo case (a module fetched from the outer
memo, the attribute name the nested pickle's own) is lenient only for what real dumps make.

``pickle.load`` reads an object array's nested pickle against the outer memo; a real dump
then imports ``<outer memo string>.<its own name>`` (``steps.dtype``), which fails. An
attacker sets the outer memo entry to a module that exists everywhere and picks an own name
that is allowlisted for the module the nested pickle meant (joblib's reading stays clean):
``copy`` where the dump meant ``numpy.core.multiarray`` makes ``copy._reconstruct``, which
calls its third argument with its fourth. That must be judged as in any pickle.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream

from . import builders as b
from .differential import RealReaders, mlstix_levels
from .test_class3_joblib_arrays import _dtype, _joblib, _state

pytest.importorskip("joblib", reason="the real joblib reader is needed")

REAL = Path(__file__).with_name("real") / "pickling"


@pytest.fixture(scope="module")
def real() -> Iterator[RealReaders]:
    with RealReaders() as readers:
        yield readers


def _dump(outer_module: str) -> bytes:
    """A joblib file whose outer pickle memoizes ``outer_module`` at 0, and whose object
    array's nested pickle (protocol 4) memoizes ``numpy.core.multiarray`` as its own 0, then
    fetches it back for ``_reconstruct`` and calls that with four arguments."""
    nested = (
        b"\x80\x04" + b.unicode_op("numpy.core.multiarray") + b"\x94" + b"0"
        + b"h\x00" + b.unicode_op("_reconstruct") + b"\x93"
        + b"(NN" + b.global_op("collections", "OrderedDict") + b")tR."
    )  # fmt: skip
    data = _joblib(_dtype("O8", _state("|", -1, 63)), 1, nested, align=None)
    prefix = b.unicode_op(outer_module) + b"q\x000"
    return data[:2] + prefix + data[2:]


def test_a_standard_module_from_the_outer_memo_is_judged_as_in_any_pickle(
    real: RealReaders,
) -> None:
    data = _dump("copy")
    as_joblib = real.joblib(data)
    assert "copy._reconstruct" not in as_joblib.resolved
    assert "numpy.core.multiarray._reconstruct" in as_joblib.resolved
    as_pickle = real.pickle(data, findable=True)
    assert "copy._reconstruct" in as_pickle.invoked
    levels = mlstix_levels(analyze_pickle_stream(io.BytesIO(data), ImportPolicy()))
    assert levels.get("copy._reconstruct", 0) >= 3


def test_a_name_no_module_has_stays_lenient(real: RealReaders) -> None:
    """The same stream with a column name in the outer memo (what real dumps make,
    ``steps.dtype``): the real loader cannot import it, and nothing is reported."""
    data = _dump("steps")
    as_pickle = real.pickle(data, findable=True)
    assert not as_pickle.ok and "steps" in str(as_pickle.error)
    assert mlstix_levels(analyze_pickle_stream(io.BytesIO(data), ImportPolicy())) == {}


def test_a_standard_module_without_that_attribute_stays_lenient(real: RealReaders) -> None:
    """A benign dump whose outer memo holds a standard module's name where the nested pickle
    fetches its own module (``collections`` from an ``OrderedDict`` dumped first):
    ``collections._reconstruct`` does not exist, the real loader fails, nothing runs."""
    data = _dump("collections")
    as_pickle = real.pickle(data, findable=True)
    assert not as_pickle.ok and "_reconstruct" in str(as_pickle.error)
    assert mlstix_levels(analyze_pickle_stream(io.BytesIO(data), ImportPolicy())) == {}


def test_an_own_name_the_meant_module_does_not_allow_is_judged(real: RealReaders) -> None:
    """A non-standard module fetched from the outer memo, with an own name that is not
    allowlisted for the module the nested pickle meant: no real dump makes it."""
    nested = (
        b"\x80\x04" + b.unicode_op("numpy") + b"\x94" + b"0"
        + b"h\x00" + b.unicode_op("capwords") + b"\x93" + b.unicode_op("x") + b"\x85R."
    )  # fmt: skip
    data = _joblib(_dtype("O8", _state("|", -1, 63)), 1, nested, align=None)
    data = data[:2] + b.unicode_op("sklearn") + b"q\x000" + data[2:]
    levels = mlstix_levels(analyze_pickle_stream(io.BytesIO(data), ImportPolicy()))
    assert levels.get("sklearn.capwords", 0) >= 3


@pytest.mark.parametrize(
    "name", ["joblib_pipeline_frame_p2.joblib", "joblib_structured_O_fields.joblib"]
)
def test_real_dumps_that_fetch_a_module_from_the_outer_memo_stay_clean(name: str) -> None:
    data = (REAL / name).read_bytes()
    assert mlstix_levels(analyze_pickle_stream(io.BytesIO(data), ImportPolicy())) == {}
