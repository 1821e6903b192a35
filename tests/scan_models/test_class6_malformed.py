"""Class 6 of issue 10: malformed is an error, never a quiet medium. What the loader would
reject, or what mlstix cannot fully parse, is an ``errors`` entry (the scan exits 2) *and*
stays a finding. Each case shows the real reader refusing the same bytes."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli

from . import builders as b
from .conftest import Scan

REAL = Path(__file__).parent / "real" / "frameworks"


def _truncated_npy() -> bytes:
    return b.npy("<f8", (4,), b"\0" * 20)  # 32 bytes declared


def _bad_crc_npz() -> bytes:
    inner = b.npy("<f4", (1,), b"\0\0\0\0")
    return b.corrupt_crc(b.zip_bytes({"a.npy": inner, "b.npy": inner}), "a.npy")


def _truncated_legacy() -> bytes:
    return (REAL / "torch_legacy.pt").read_bytes()[:400]  # inside the model's own pickle


def _truncated_legacy_data() -> bytes:
    # all five pickles complete, the last storage's data cut short: torch 2.14 refuses it with
    # "unexpected EOF, expected 12 more bytes" (checked with the fixture environment)
    return (REAL / "torch_legacy.pt").read_bytes()[:870]


CASES = {
    "weights.npy": _truncated_npy,
    "arrays.npz": _bad_crc_npz,
    "legacy.pt": _truncated_legacy,
    "legacy_data.pt": _truncated_legacy_data,
}


class _Stub(dict[object, object]):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__()
        del args, kwargs

    def __setstate__(self, state: object) -> None:
        del state


class _Inert(pickle.Unpickler):
    """CPython's unpickler that imports nothing: names resolve to an inert stand-in."""

    def find_class(self, module: str, name: str) -> type:
        return _Stub

    def persistent_load(self, pid: object) -> object:
        return pid


def _real_reader_refuses(name: str, data: bytes) -> None:
    if name.endswith(".npy"):
        np = pytest.importorskip("numpy")
        with pytest.raises(ValueError):
            np.load(io.BytesIO(data))
    elif name.endswith(".npz"):
        with zipfile.ZipFile(io.BytesIO(data)) as z, pytest.raises(zipfile.BadZipFile):
            z.read("a.npy")
    elif name == "legacy.pt":
        f = io.BytesIO(data)
        for _ in range(3):
            pickle.load(f)  # magic number, protocol, sys info: all complete
        with pytest.raises((pickle.UnpicklingError, EOFError)):
            _Inert(f).load()  # what torch's unpickler reads next: cut short
    else:
        f = io.BytesIO(data)
        for _ in range(3):
            pickle.load(f)
        _Inert(f).load()
        keys = pickle.load(f)  # every pickle is whole: only the raw storage data is short
        assert len(keys) == 4 and len(data) - f.tell() < 4 * 8 + (12 + 3 + 6 + 2) * 4


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_is_an_error_and_a_finding(tmp_path: Path, scan: Scan, name: str) -> None:
    data = CASES[name]()
    _real_reader_refuses(name, data)
    (tmp_path / name).write_bytes(data)
    report = scan(tmp_path / name)
    assert [e.path for e in report.errors] == [str(tmp_path / name)]
    flagged = {
        f.rule_id
        for f in report.findings
        if f.rule_id
        in {"models/unrecognized-model-file", "models/archive-anomaly", "models/pickle-malformed"}
    }
    assert flagged, report.findings


def test_malformed_exits_2_with_the_whole_report(tmp_path: Path) -> None:
    for name, make in CASES.items():
        (tmp_path / name).write_bytes(make())
    (tmp_path / "evil.pkl").write_bytes(b.call_pickle("os", "system", "id"))
    result = CliRunner().invoke(cli, ["scan", "models", str(tmp_path), "--format", "json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert sorted(Path(e["path"]).name for e in doc["errors"]) == sorted(CASES)
    assert any(f["severity"] == "critical" for f in doc["findings"])


def test_corrupt_compressed_stream_is_an_error(tmp_path: Path, scan: Scan) -> None:
    import gzip

    data = gzip.compress(b.torch_state_pickle())
    (tmp_path / "model.pkl.gz").write_bytes(data[:-6])
    report = scan(tmp_path / "model.pkl.gz")
    assert report.errors
    assert "gzip stream is corrupt" in report.errors[0].message


@pytest.mark.parametrize("change", ["short", "missing"])
def test_a_torch_storage_record_shorter_than_its_pickle_says_is_an_error(
    tmp_path: Path, scan: Scan, change: str
) -> None:
    """torch.save's data.pkl names each storage with its element count; a record shorter than
    that is read past its end by torch before 2.10 (CVE-2026-24747), refused after; a missing
    one fails the load. Rebuilt from a real torch.save file, one record changed."""
    real = zipfile.ZipFile(REAL / "torch_state_dict.pt")
    out = tmp_path / "model.pt"
    with zipfile.ZipFile(out, "w") as z:
        for name in real.namelist():
            data = real.read(name)
            if name.endswith("/data/0"):
                if change == "missing":
                    continue
                data = data[:-4]
            z.writestr(name, data)
    report = scan(out)
    assert len(report.errors) == 1 and "data/0" in report.errors[0].message
