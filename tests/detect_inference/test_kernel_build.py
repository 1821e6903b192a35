"""Where the compiled kernels must be: on CI (which has a C compiler) they are importable, so a
broken build cannot hide behind the NumPy fallback; and ``MLSTIX_NO_KERNEL=1`` turns them off."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest


@pytest.mark.skipif(not os.environ.get("CI"), reason="only on CI, which builds the kernels")
def test_the_kernel_is_built_on_ci() -> None:
    module = importlib.import_module("mlstix.detect.inference._kernel")
    assert module.ABI == 2


def test_mlstix_no_kernel_forces_the_numpy_path() -> None:
    code = "from mlstix.detect.inference._accel import load; print(load('_kernel') is None)"
    env = {**os.environ, "MLSTIX_NO_KERNEL": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.strip() == "True"
