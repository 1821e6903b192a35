"""PRADA's compiled kernel must be there on CI (which has a C compiler), so that a broken build
cannot hide behind the NumPy fallback (the other ``test_kprada_*`` files skip without it)."""

from __future__ import annotations

import importlib
import os

import pytest


@pytest.mark.skipif(not os.environ.get("CI"), reason="only on CI, which builds the kernels")
def test_the_prada_kernel_is_built_on_ci() -> None:
    module = importlib.import_module("mlstix.detect.inference._kprada")
    assert module.ABI == 1
    from mlstix.detect.inference._psets import KernelSets, make_sets

    assert isinstance(make_sets(3, 8), KernelSets)  # and it is the one PRADA takes
