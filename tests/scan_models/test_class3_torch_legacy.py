"""Class 3 of issue 10 (PyTorch legacy): read a legacy checkpoint exactly as
``torch.serialization._legacy_load`` reads it, not as "every pickle until one fails".

Five pickles (magic number, protocol version 1001, system info, the object, the storage keys),
then raw storage data sized by the object's persistent ids; nothing after it is read. The files
in ``legacy/`` were made from a ``torch.save(..., _use_new_zipfile_serialization=False)``
checkpoint by ``legacy/make_legacy.py``, which also recorded what the real ``torch.load`` does
with each (``EXPECTED.json``: refused or loaded, and every name it imported, through a
recording unpickler: nothing ran). Where torch is installed, the recording is re-checked.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from mlstix.findings.model import Severity
from mlstix.scan.models.pickles.allowlist import ImportPolicy

from .conftest import Scan

LEGACY = Path(__file__).with_name("legacy")
EXPECTED = json.loads((LEGACY / "EXPECTED.json").read_text())["files"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_legacy_checkpoints_are_read_as_torch_load_reads_them(
    tmp_path: Path, scan: Scan, name: str
) -> None:
    shutil.copy(LEGACY / name, tmp_path / name)
    report = scan(tmp_path / name)
    expected = EXPECTED[name]
    assert [s.kind for s in report.scanned] == ["pytorch-legacy"]
    if expected["ok"]:
        assert not report.errors, report.errors
    else:  # torch.load refuses the file: an error for it, never a quiet pass
        assert len(report.errors) == 1, expected["error"]
    policy = ImportPolicy()
    high = {str(f.evidence.get("import")) for f in report.findings if f.severity >= Severity.HIGH}
    risky = {
        f"{module}.{attr}"
        for module, attr in expected["imports"]
        if "Storage" not in attr and policy.verdict(module, attr) != "allowed"
    }  # torch maps storage names itself; allowed names raise nothing
    assert risky <= high, (name, risky - high)
    if expected["ok"]:
        assert high <= risky, (name, high - risky)


def test_a_payload_after_the_storage_data_is_read_by_no_loader(scan: Scan, tmp_path: Path) -> None:
    """torch.load stops after the storages, pickle.load after the first pickle: the trailing
    pickle is an anomaly, not a payload anyone runs."""
    shutil.copy(LEGACY / "payload_after_storages.pt", tmp_path / "model.pt")
    report = scan(tmp_path / "model.pt")
    assert not [f for f in report.findings if f.severity >= Severity.HIGH]
    assert any("follow the storage data" in f.message for f in report.findings)


def test_the_recorded_torch_load_results_hold(tmp_path: Path) -> None:
    """Re-run the real torch.load (recording unpickler) where torch is installed."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed: EXPECTED.json holds what it did")
    spec = importlib.util.spec_from_file_location("make_legacy", LEGACY / "make_legacy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, expected in EXPECTED.items():
        got = module._torch_load(LEGACY / name)
        assert (got["ok"], got["imports"]) == (expected["ok"], expected["imports"]), name
