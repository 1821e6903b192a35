"""Triton Inference Server's ``config.pbtxt``: model configurations that run shipped Python.

A model repository entry with ``backend: "python"`` runs ``<version>/model.py`` (the Python
backend imports it and calls ``initialize`` when the model loads); ``runtime: "model.py"``
selects a Python-based backend file shipped with the model; an ``EXECUTION_ENV_PATH``
parameter unpacks a conda-pack archive from the repository and runs the model's Python in it.
Each is reported as shipped Python code (the ``.py`` files themselves are not model files the
scanner reads). The text format is read with regular expressions after ``#`` comments are
dropped; nothing is compiled.

Reference: triton-inference-server ``server/docs/user_guide/model_configuration.md``
(``backend``, ``runtime``), ``python_backend/README.md`` (``model.py``, ``EXECUTION_ENV_PATH``).
"""

from __future__ import annotations

import re

from mlstix.scan.models._context import Context, Source

__all__ = ["analyze_triton_config"]

_MAX = 4 << 20
_COMMENT = re.compile(r"#[^\n]*")
_PYTHON_BACKEND = re.compile(r"""\bbackend\s*:\s*["']python["']""")
_PY_RUNTIME = re.compile(r"""\bruntime\s*:\s*["']([^"']*\.py)["']""")
_ENV_PATH = re.compile(r"""\bkey\s*:\s*["']EXECUTION_ENV_PATH["']""")


def analyze_triton_config(src: Source, ctx: Context) -> str:
    src.fp.seek(0)
    raw = src.fp.read(_MAX + 1)
    if len(raw) > _MAX:
        ctx.malformed("models/unreadable", f"config.pbtxt is larger than {_MAX} bytes", src)
        return "triton-config"
    text = _COMMENT.sub("", raw.decode("utf-8", "replace"))
    if _PYTHON_BACKEND.search(text):
        _hit(src, ctx, "backend: python", "the Python backend imports the model's model.py and "
             "runs it when the model loads")  # fmt: skip
    if m := _PY_RUNTIME.search(text):
        _hit(src, ctx, f"runtime: {m.group(1)}", f"Triton runs the Python-based backend "
             f"{m.group(1)} shipped with the model")  # fmt: skip
    if _ENV_PATH.search(text):
        _hit(src, ctx, "EXECUTION_ENV_PATH", "Triton unpacks the Python environment the "
             "repository ships and runs the model in it")  # fmt: skip
    return "triton-config"


def _hit(src: Source, ctx: Context, ref: str, what: str) -> None:
    ctx.hit("models/shipped-python-code", f"config.pbtxt: {what}", src, reference=ref)
