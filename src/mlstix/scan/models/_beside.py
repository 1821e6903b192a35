"""Python files shipped beside a model that run without any configuration naming them.

Python puts the script's folder (``python train.py``) or the working directory (``python -c``,
``python -m``, a notebook, ``torchrun``) first on ``sys.path``, and a folder of ``.py`` files is
a package even without ``__init__.py`` (a namespace package). So a process started in a model's
folder, or in a folder above it, imports what is shipped there before anything installed:

- **imported by a pickle.** ``find_class`` imports the module a pickle names, which runs the
  module's top level; a checkpoint of a whole model (``torch.save(model)``) names its class's
  module (``models.yolo.DetectionModel``), and a ``models/yolo.py`` shipped beside it is what
  runs, whatever the pickle then does with the class;
- **named like a module the loaders import.** A ``numpy.py``, ``pickle.py`` or ``transformers/``
  beside the weights shadows the real module for that process: loading the model (or anything
  else that imports it) runs the shipped file. Modules already imported when the interpreter
  starts (``os``, ``codecs``, ...) cannot be shadowed and are left out.

Both are ``models/shipped-python-code`` (high); other loose ``.py`` files are left alone (no
loader imports them by itself). A ``.pyc`` without its source is imported like a ``.py``
(sourceless imports) and counts the same; ``__pycache__`` is used only beside a source.

Reference: Python ``sys.path`` initialization (the ``sys.path[0]`` rules) and PEP 420
(namespace packages); ``pickle.Unpickler.find_class``.
"""

# Paths stay strings here, as in the engine.
# ruff: noqa: PTH120

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Protocol

from mlstix.scan.models._context import Hit

__all__ = ["SHADOWED", "beside_hits"]

_RULE = "models/shipped-python-code"
_SOURCES = (".py", ".pyc", ".pyw")  # what the import system takes from a folder (sourceless too)
# imported before any user code runs: already in sys.modules, a file of that name is not read
_STARTUP = frozenset(
    ["abc", "builtins", "codecs", "encodings", "genericpath", "io", "marshal", "os", "posix",
     "posixpath", "site", "stat", "sys", "time", "zipimport", "test", "this", "antigravity",
     "__main__"]
)  # fmt: skip
# what model loaders import (the libraries and what they import while loading a model)
_LIBRARIES = frozenset(
    ["torch", "torchvision", "torchaudio", "numpy", "scipy", "sklearn", "pandas", "joblib",
     "safetensors", "transformers", "huggingface_hub", "tokenizers", "sentencepiece",
     "diffusers", "peft", "accelerate", "sentence_transformers", "timm", "keras", "tf_keras",
     "tensorflow", "onnx", "onnxruntime", "h5py", "gguf", "llama_cpp", "xgboost", "lightgbm",
     "catboost", "statsmodels", "mlflow", "skops", "cloudpickle", "dill", "jinja2", "yaml",
     "requests", "tqdm", "packaging", "filelock", "fsspec", "regex", "typing_extensions",
     "jax", "flax", "optax", "paddle", "nemo", "hydra", "omegaconf", "sympy", "triton",
     "PIL", "cv2", "einops", "google", "protobuf", "ml_dtypes", "threadpoolctl"]
)  # fmt: skip
SHADOWED = (frozenset(sys.stdlib_module_names) - _STARTUP) | _LIBRARIES


class _Result(Protocol):  # engine.FileResult, without importing the engine
    @property
    def kind(self) -> str | None: ...
    @property
    def hits(self) -> tuple[Hit, ...]: ...


def _provided(real: str, root: str) -> Iterator[tuple[str, str]]:
    """(folder, top-level name) pairs a ``.py`` file at ``real`` makes importable from each
    folder between it and ``root``: ``a/b/c.py`` gives ``c`` in ``a/b``, ``b`` in ``a``, ``a``
    in the root."""
    folder, name = os.path.split(real)
    stem = name.rsplit(".", 1)[0]
    if folder.endswith(os.sep + "__pycache__"):
        return  # used only beside its source, which is looked at itself
    if stem != "__init__" and stem.isidentifier():
        yield folder, stem
    while folder != root and folder.startswith(root.rstrip(os.sep) + os.sep):
        parent, package = os.path.split(folder)
        if not package.isidentifier():
            return
        yield parent, package
        folder = parent


def beside_hits(
    results: Iterable[tuple[str, str, str, _Result]], not_models: frozenset[str]
) -> list[tuple[str, Hit]]:
    """``results``: (real path, display path, scan root, result) of every scanned file."""
    rows = list(results)
    modules: dict[str, dict[str, str]] = {}  # folder -> top-level name -> display path of a .py
    for real, display, root, _ in rows:
        if real.endswith(_SOURCES):
            for folder, name in _provided(real, root):
                modules.setdefault(folder, {}).setdefault(name, display)
    if not modules:
        return []
    out: list[tuple[str, Hit]] = []
    shadowing: dict[tuple[str, str], str] = {}
    for real, display, root, res in rows:
        if res.kind is None or res.kind in not_models:
            continue
        imported = {str(h.evidence["import"]).split(".", 1)[0] for h in res.hits
                    if "import" in h.evidence and h.member is None}  # fmt: skip
        folder = os.path.dirname(real)
        while True:
            here = modules.get(folder, {})
            for name in sorted(imported & here.keys()):
                out.append((display, Hit(_RULE,
                    f"the pickle imports {name}, and {here[name]} shipped beside it is that "
                    f"module: a process started in {folder} imports it from there and runs "
                    "its top level when the model loads",
                    evidence={"import": name, "python_file": here[name]})))  # fmt: skip
            for name in here.keys() & SHADOWED:
                shadowing[(folder, name)] = here[name]
            if folder == root or not folder.startswith(root.rstrip(os.sep) + os.sep):
                break
            folder = os.path.dirname(folder)
    for (folder, name), py in sorted(shadowing.items()):
        out.append((py, Hit(_RULE,
            f"{py} makes {name} importable from {folder}, named like the {name} module that "
            "model loaders import: a process started there imports it instead of the real "
            "one and runs it", evidence={"shadows": name, "folder": folder})))  # fmt: skip
    return out
