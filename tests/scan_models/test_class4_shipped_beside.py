"""Class 4, Python shipped beside a model that runs though no configuration names it
(``_beside.py``): a pickle that only *references* ``models.yolo.DetectionModel`` makes
``find_class`` import ``models/yolo.py`` from the folder the process starts in (medium before:
an unknown import); a ``numpy.py`` or ``transformers/`` beside the weights shadows the real
module (clean before). The real loader is run in the model's folder to show the shipped file
runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlstix.findings.model import Report

from . import builders as b
from .conftest import Scan

_RULE = "models/shipped-python-code"


def _shipped(report: Report, suffix: str) -> list[str]:
    return [f.message for f in report.findings
            if f.rule_id == _RULE and f.location.path.endswith(suffix)]  # fmt: skip


def _reference(module: str, name: str) -> bytes:
    """A pickle that names a class and does nothing with it."""
    return b"\x80\x02" + b.global_op(module, name) + b"."


def test_a_module_a_pickle_references_and_ships_beside_it_is_high(
    tmp_path: Path, scan: Scan
) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "yolo.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass DetectionModel: pass\n"
    )
    (tmp_path / "weights").mkdir()
    model = tmp_path / "weights" / "best.pt"
    model.write_bytes(_reference("models.yolo", "DetectionModel"))
    messages = _shipped(scan(tmp_path), "best.pt")
    assert messages and "models/yolo.py" in messages[0]
    # the real loader, started in the repository's folder, runs the shipped module
    code = "import pickle; pickle.load(open('weights/best.pt', 'rb'))"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=60)
    assert marker.exists()


def test_a_module_named_like_what_loaders_import_is_high(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "numpy.py").write_text("x = 1\n")
    (tmp_path / "transformers").mkdir()
    (tmp_path / "transformers" / "__init__.py").write_text("")
    (tmp_path / "model.pkl").write_bytes(_reference("collections", "OrderedDict"))
    report = scan(tmp_path)
    assert _shipped(report, "numpy.py")
    assert _shipped(report, "__init__.py")
    assert not report.errors  # "x = 1" is no zlib stream


def test_a_sourceless_pyc_counts_as_the_module(tmp_path: Path, scan: Scan) -> None:
    """The import system imports ``helper.pyc`` when there is no ``helper.py``."""
    (tmp_path / "helper.pyc").write_bytes(b"\x00" * 16)
    (tmp_path / "model.pkl").write_bytes(_reference("helper", "Thing"))
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "numpy.cpython-311.pyc").write_bytes(b"\x00" * 16)
    report = scan(tmp_path)
    assert _shipped(report, "model.pkl")
    assert not _shipped(report, ".cpython-311.pyc")


def test_loose_files_no_loader_imports_stay_clean(tmp_path: Path, scan: Scan) -> None:
    """Helpers nothing names, names that cannot be shadowed (``os``: imported at start-up),
    ``test.py``, and shadowing names in a folder without a model."""
    for name in ("helper.py", "os.py", "test.py", "train.py"):
        (tmp_path / name).write_text("x = 1\n")
    (tmp_path / "model.pkl").write_bytes(_reference("collections", "OrderedDict"))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "json.py").write_text("")
    report = scan(tmp_path)
    assert not [f for f in report.findings if f.rule_id == _RULE]


def test_a_reference_to_a_module_shipped_elsewhere_stays_medium(tmp_path: Path, scan: Scan) -> None:
    """Only the model's folder and the folders above it up to the scanned root count."""
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "helper.py").write_text("")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.pkl").write_bytes(_reference("helper", "Thing"))
    report = scan(tmp_path)
    assert not _shipped(report, "model.pkl")
