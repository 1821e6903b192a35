"""Class 4, Triton ``config.pbtxt``: a Python backend (``model.py`` runs on load), a
Python-based backend file as ``runtime``, and a shipped conda-pack environment. Each was clean
(``config.pbtxt`` was not read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Scan, rules

_ONNX = """\
name: "resnet"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 1000 ] } ]
# backend: "python" (a comment: not read)
"""


@pytest.mark.parametrize(
    "extra",
    [
        'backend: "python"\n',
        "backend:'python'\n",
        'backend: "pytorch"\nruntime: "model.py"\n',
        'parameters: { key: "EXECUTION_ENV_PATH", value: {string_value: '
        '"$$TRITON_MODEL_DIRECTORY/env.tar.gz"} }\n',
    ],
    ids=["python-backend", "python-backend-quotes", "python-runtime", "conda-pack"],
)
def test_triton_configs_that_run_shipped_python_are_high(
    tmp_path: Path, scan: Scan, extra: str
) -> None:
    (tmp_path / "config.pbtxt").write_text(_ONNX + extra)
    assert "models/shipped-python-code" in rules(scan(tmp_path / "config.pbtxt"), "config.pbtxt")


def test_an_onnx_runtime_config_stays_clean(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "config.pbtxt").write_text(_ONNX)
    report = scan(tmp_path / "config.pbtxt")
    assert "models/shipped-python-code" not in rules(report, "config.pbtxt")
    assert not report.errors


def test_sagemaker_code_in_a_model_archive_is_high(tmp_path: Path, scan: Scan) -> None:
    """``model.tar.gz`` with ``code/inference.py`` and ``code/requirements.txt``: SageMaker's
    framework containers import the one and pip-install the other when the endpoint starts."""
    import io
    import tarfile

    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w:gz") as tar:
        members = {"model.pth": b"\x80\x02}.", "code/inference.py": b"import os\n",
                   "code/requirements.txt": b"somepkg\n", "notes/x.py": b""}  # fmt: skip
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (tmp_path / "model.tar.gz").write_bytes(bio.getvalue())
    report = scan(tmp_path / "model.tar.gz")
    code = [f for f in report.findings if f.rule_id == "models/shipped-python-code"]
    refs = sorted(f.evidence["reference"] for f in code)
    assert refs == ["code/inference.py", "code/requirements.txt"]
