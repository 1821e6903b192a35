"""Load the ``model-signing`` library without running its package ``__init__``.

``model_signing/__init__.py`` imports the whole public API (``signing``, ``verifying``,
``hashing``), and with it Sigstore's keyless machinery: Fulcio and Rekor clients, TUF, requests.
That is about 0.33 s here, paid by every ``mlstix sign`` and ``verify`` even with a private key.
The modules mlstix uses for key and certificate signing need about half of that.

:func:`prepare` registers a stand-in for the package that has the real package's search path,
so ``from model_signing._signing import sign_ec_key`` loads just that module and what it
imports. The stand-in imports a submodule on first attribute access (``model_signing.signing``
works as before) and carries the package's ``__version__`` and ``__all__``: code that uses the
public API still finds it. Nothing happens when the package is already imported or absent (the
import that follows then raises as usual, and the CLI names the extra to install).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import types
from typing import Any

__all__ = ["prepare"]

_NAME = "model_signing"


def prepare() -> None:
    """Make the next ``from model_signing.x import y`` load only what it needs."""
    if _NAME in sys.modules:
        return
    spec = importlib.util.find_spec(_NAME)
    if spec is None or not spec.submodule_search_locations:
        return
    package = types.ModuleType(_NAME, "model-signing, loaded lazily by mlstix")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__package__ = _NAME
    setattr(package, "__all__", ["hashing", "signing", "verifying", "manifest"])  # noqa: B010
    setattr(package, "__version__", importlib.metadata.version("model-signing"))  # noqa: B010

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return importlib.import_module(f"{_NAME}.{name}")

    setattr(package, "__getattr__", __getattr__)  # noqa: B010
    sys.modules[_NAME] = package
