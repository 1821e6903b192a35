"""Regressions from ``benchmarks/fuzz_models.py`` runs of this session, each built from the
minimal bytes the fuzzer found, checked against CPython's unpickler in the sandboxed worker of
:mod:`tests.scan_models.differential`."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream

from . import builders as b
from .differential import RealReaders


@pytest.fixture(scope="module")
def real() -> Iterator[RealReaders]:
    with RealReaders() as readers:
        yield readers


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x00N(icopyreg\n_reconstructor\n.",  # fuzz_models seed 105 (c reader)
        b"\x80\x02" + b.global_op("copyreg", "__newobj__") + b")R.",
        b"\x80\x02" + b.global_op("numpy.core.multiarray", "_reconstruct") + b")R.",
    ],
    ids=["inst", "newobj-reduce", "numpy-reconstruct"],
)
def test_a_constructor_called_without_its_class_is_an_error(real: RealReaders, data: bytes) -> None:
    """The allowlisted functions that build the class they are given fail without one (a
    TypeError in every unpickler): the analysis reports the stream as malformed."""
    assert not real.pickle(data).ok
    assert analyze_pickle_stream(io.BytesIO(data), ImportPolicy()).malformed is not None


def test_a_global_with_an_empty_name_at_the_end_imports_nothing_under_joblib(
    real: RealReaders,
) -> None:
    """``c.`` at the end of a stream: pickle._Unpickler (joblib.load's) reads the last line
    without its newline, find_class('', '') raises before importing (fuzz_models --reader
    joblib, seed 101: the harness had recorded a resolve)."""
    data = b"\x80\x02N0c."
    as_joblib = real.joblib(data)
    assert not as_joblib.ok and as_joblib.resolved == set()
    result = analyze_pickle_stream(io.BytesIO(data), ImportPolicy())
    assert result.malformed is not None and result.imports == {}
