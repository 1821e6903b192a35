"""The one place that decides whether the inference detectors use their compiled kernels.

The kernels (``_k*.c`` beside this module, compiled by ``hatch_build.py`` at install) are
accelerators only: each function in them has a NumPy twin in the module that calls it, which
is the reference (tests run both on the same inputs and compare) and the fallback. A kernel
is used when its extension module imports and the environment variable ``MLSTIX_NO_KERNEL``
is unset or empty when it is first asked for; ``MLSTIX_NO_KERNEL=1`` forces the NumPy path
for the whole process (to compare the two, or to rule a kernel out).

Each module is imported at most once, on first use (not when this module is imported), and
one whose ``ABI`` does not match what its callers were written for is not used.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["disabled", "load"]

_ABI = {"_kernel": 2}  # the ABI each caller was written for; unknown names need 1
_loaded: dict[str, ModuleType | None] = {}


def disabled() -> bool:
    """Whether ``MLSTIX_NO_KERNEL`` turns every kernel off."""
    return bool(os.environ.get("MLSTIX_NO_KERNEL"))


def load(name: str) -> ModuleType | None:
    """The compiled module ``mlstix.detect.inference.<name>``, or None where it is off,
    missing (no compiler at install) or of another ABI."""
    if name in _loaded:
        return _loaded[name]
    module: ModuleType | None = None
    if not disabled():
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ImportError:
            module = None
        if module is not None and getattr(module, "ABI", None) != _ABI.get(name, 1):
            module = None
    _loaded[name] = module
    return module
