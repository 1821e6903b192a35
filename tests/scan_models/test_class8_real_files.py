"""Class 8 of issue 10: real files first. The files under ``real/frameworks`` were written by
the frameworks' own save functions (``real/make_frameworks.py``, versions in
``real/frameworks/VERSIONS.json``): current PyTorch (``torch.save`` with its ZIP64 end records,
the legacy format, TorchScript, ``torch.export``), Keras 3 (``.keras``, legacy ``.h5``, weights),
ONNX (inline and external data) and safetensors. Every one must be read, and none may alarm.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from mlstix.findings.model import Severity

from . import builders as b
from .conftest import Scan

REAL = Path(__file__).parent / "real" / "frameworks"
NOT_MODELS = {"VERSIONS.json", "onnx_external.data"}
KINDS = {
    "torch_state_dict.pt": "pytorch-zip",
    "torch_checkpoint.pth": "pytorch-zip",
    "torch_legacy.pt": "pytorch-legacy",
    "torchscript.pt": "torchscript",
    "torch_export.pt2": "zip",
    "keras_model.keras": "keras-v3",
    "keras_legacy.h5": "keras-h5",
    "keras_weights.weights.h5": "hdf5",
    "onnx_model.onnx": "onnx",
    "onnx_external.onnx": "onnx",
    "weights.safetensors": "safetensors",
}


def test_the_fixtures_say_who_made_them() -> None:
    versions = json.loads((REAL / "VERSIONS.json").read_text())
    assert {"torch", "keras", "onnx", "safetensors", "python"} <= set(versions)
    assert {p.name for p in REAL.iterdir()} == set(KINDS) | NOT_MODELS


def test_every_real_file_is_read_and_none_alarms(scan: Scan) -> None:
    report = scan(REAL)
    kinds = {Path(s.path).name: s.kind for s in report.scanned}
    assert kinds == KINDS
    assert not report.errors
    alarms = [
        (f.location.path, f.rule_id, f.message)
        for f in report.findings
        if f.severity >= Severity.MEDIUM and f.vulnerability == "insecure-model-serialization"
    ]
    assert alarms == []


def test_current_pytorch_zip64_end_records_are_not_a_prefix(scan: Scan) -> None:
    """torch.save writes a ZIP64 end record and locator between the central directory and the
    end record; they are part of the archive (no "bytes precede the archive"), and every
    member is read."""
    data = (REAL / "torch_state_dict.pt").read_bytes()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data
    report = scan(REAL / "torch_state_dict.pt")
    assert [f.message for f in report.findings if f.rule_id == "models/archive-anomaly"] == []
    assert any(f.rule_id == "models/pickle-format" for f in report.findings)


def _plant(data: bytes, member: str, payload_for: int) -> bytes:
    """Replace the stored ``member`` by an ``os.system`` call of the same length (PyTorch
    checks no CRC), keeping the rest of the real file byte for byte."""
    name = member.encode()
    at = data.find(b"PK\x03\x04")
    while at >= 0:
        nlen, xlen = struct.unpack("<HH", data[at + 26 : at + 30])
        if data[at + 30 : at + 30 + nlen] == name:
            start = at + 30 + nlen + xlen
            base = b.call_pickle("os", "system", "id")
            payload = b.call_pickle("os", "system", "id" + " " * (payload_for - len(base)))
            assert len(payload) == payload_for
            return data[:start] + payload + data[start + payload_for :]
        at = data.find(b"PK\x03\x04", at + 4)
    raise AssertionError(f"{member} not found")


@pytest.mark.parametrize("name", ["torch_state_dict.pt", "torchscript.pt"])
def test_payload_in_a_current_pytorch_file_is_critical(
    tmp_path: Path, scan: Scan, name: str
) -> None:
    import zipfile

    data = (REAL / name).read_bytes()
    with zipfile.ZipFile(REAL / name) as z:
        member = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        size = z.getinfo(member).file_size
    (tmp_path / name).write_bytes(_plant(data, member, size))
    report = scan(tmp_path / name)
    critical = {
        str(f.evidence.get("import")) for f in report.findings if f.severity == Severity.CRITICAL
    }
    assert critical == {"os.system"}


def test_onnx_external_data_beside_the_model_is_fine(tmp_path: Path, scan: Scan) -> None:
    for name in ("onnx_external.onnx", "onnx_external.data"):
        shutil.copy(REAL / name, tmp_path / name)
    report = scan(tmp_path)
    assert [f.rule_id for f in report.findings if f.rule_id.startswith("models/onnx")] == []
