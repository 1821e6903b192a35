"""Class 4, HDF5 weights that read other files (CVE-2026-1669): an external link, external
storage or a virtual dataset makes h5py read an attacker-named file while Keras loads the
weights, in a bare ``.h5``/``.weights.h5`` or inside a ``.keras`` zip. Each was clean. The
files are written with h5py and read back with it, to show the bytes really come from the
other file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from .conftest import Scan, rules

h5py = pytest.importorskip("h5py", reason="h5py writes the HDF5 fixtures")
np = pytest.importorskip("numpy")

_RULE = "models/keras-file-reference"


def _external_storage(path: Path, secret: Path) -> None:
    with h5py.File(path, "w") as f:
        size = secret.stat().st_size
        f.create_dataset("layers/dense/vars/0", shape=(size,), dtype="u1",
                         external=[(str(secret), 0, size)])  # fmt: skip


def _external_link(path: Path, other: Path) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"dense"]
        f["model_weights"] = h5py.ExternalLink(str(other), "/model_weights")


def _virtual(path: Path, other: Path) -> None:
    with h5py.File(path, "w") as f:
        layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
        layout[:] = h5py.VirtualSource(str(other), "model_weights/dense/kernel", shape=(4,))
        f.create_virtual_dataset("layers/dense/vars/0", layout)


@pytest.fixture
def other(tmp_path: Path) -> Path:
    """Another HDF5 file on the host (someone else's weights)."""
    path = tmp_path / "elsewhere" / "private.h5"
    path.parent.mkdir()
    with h5py.File(path, "w") as f:
        f["model_weights/dense/kernel"] = np.array([1.5, 2.5, 3.5, 4.5])
    return path


def test_external_storage_reads_the_named_file(tmp_path: Path, scan: Scan) -> None:
    secret = tmp_path / "elsewhere.txt"
    secret.write_bytes(b"root:x:0:0:secret\n")
    model = tmp_path / "m" / "model.weights.h5"
    model.parent.mkdir()
    _external_storage(model, secret)
    with h5py.File(model, "r") as f:  # the real reader: the weights are the file's bytes
        assert bytes(f["layers/dense/vars/0"][()]) == secret.read_bytes()
    report = scan(model.parent)
    assert _RULE in rules(report)
    assert any(str(secret) in f.message for f in report.findings)


@pytest.mark.parametrize("make", [_external_link, _virtual], ids=["external-link", "virtual"])
def test_links_into_other_files_are_high(make: object, tmp_path: Path, other: Path,
                                         scan: Scan) -> None:  # fmt: skip
    model = tmp_path / "m" / "model.h5"
    model.parent.mkdir()
    make(model, other)  # type: ignore[operator]
    with h5py.File(model, "r") as f:  # the real reader follows it into the other file
        key = "model_weights/dense/kernel" if "model_weights" in f else "layers/dense/vars/0"
        assert list(f[key][()]) == [1.5, 2.5, 3.5, 4.5]
    report = scan(model.parent)
    findings = [f for f in report.findings if f.rule_id == _RULE]
    assert findings and findings[0].severity.value == "high"
    assert str(other) in findings[0].message


def test_inside_a_keras_zip(tmp_path: Path, scan: Scan) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x00" * 32)
    weights = tmp_path / "w.h5"
    _external_storage(weights, secret)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        zf.writestr("config.json", '{"module": "keras", "class_name": "Sequential", '
                    '"config": {"layers": []}}')  # fmt: skip
        zf.write(weights, "model.weights.h5")
    model = tmp_path / "m" / "model.keras"
    model.parent.mkdir()
    model.write_bytes(buf.getvalue())
    findings = [f for f in scan(model.parent).findings if f.rule_id == _RULE]
    assert findings and findings[0].location.member == "model.weights.h5"


def test_weights_with_soft_links_inside_the_file_stay_clean(tmp_path: Path, scan: Scan) -> None:
    model = tmp_path / "m" / "model.weights.h5"
    model.parent.mkdir()
    with h5py.File(model, "w") as f:
        f["layers/dense/vars/0"] = np.ones((3, 3), "f4")
        f["layers/dense/vars/1"] = np.zeros(3, "f4")
        f["alias"] = h5py.SoftLink("/layers/dense/vars/0")
    report = scan(model.parent)
    assert _RULE not in rules(report)
    assert not report.errors
