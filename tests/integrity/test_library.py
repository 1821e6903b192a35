"""Loading model-signing without its package __init__ keeps its public API reachable."""

from __future__ import annotations

import subprocess
import sys

_SCRIPT = """
import sys
from mlstix.integrity import _library
_library.prepare()
from model_signing._signing import sign_ec_key
assert "model_signing.signing" not in sys.modules, "the package __init__ ran"
assert "sigstore._internal.fulcio" not in sys.modules, "keyless machinery was loaded"
import model_signing
assert model_signing.__version__
assert model_signing.signing.Config is not None   # submodules load on first access
from model_signing import verifying
assert verifying.Config is not None
print("ok")
"""


def test_prepare_loads_only_what_is_imported_and_keeps_the_api() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_prepare_leaves_an_imported_package_alone() -> None:
    script = (
        "import model_signing, sys\n"
        "from mlstix.integrity import _library\n"
        "before = sys.modules['model_signing']\n"
        "_library.prepare()\n"
        "assert sys.modules['model_signing'] is before\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
