"""Class 2 of issue 10: every loader's view of every file, not a type guessed from the first
bytes, the name or the extension.

Each hostile file here is also given to the *real* reader (CPython's unpickler behind the real
decompressor, ``zipfile``) in a child process whose ``find_class`` records names and returns an
inert stand-in: the test asserts the real reader does reach the payload (so the fixture is a
real bypass, not a file no loader would read) and that mlstix reports it at high or above.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from mlstix.findings.model import Report, Severity

from . import builders as b
from .conftest import Scan

PAYLOAD = b.call_pickle("os", "system", "id")

_REAL = r"""
import io, json, pickle, sys, zipfile
class Stub:
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return Stub()
    def __setstate__(self, state): pass
names = []
class Recorder(pickle.Unpickler):
    def find_class(self, module, name):
        names.append(f"{module}.{name}")
        return Stub
def load(data):
    try:
        Recorder(io.BytesIO(data)).load()
    except Exception as exc:
        return repr(exc)
    return None
how, data = sys.argv[1], sys.stdin.buffer.read()
if how == "gzip":
    import gzip; data = gzip.decompress(data)
elif how == "bz2":
    import bz2; data = bz2.decompress(data)
elif how in ("xz", "lzma"):
    import lzma; data = lzma.decompress(data)
elif how == "zlib":
    import zlib; data = zlib.decompress(data)
elif how == "zstd":
    import zstandard; data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
elif how == "lz4":
    import lz4.frame; data = lz4.frame.decompress(data)
elif how == "zip":  # pandas.read_pickle(compression="zip"): the single member of a zipfile
    z = zipfile.ZipFile(io.BytesIO(data)); data = z.read(z.namelist()[0])
error = load(data)
print(json.dumps({"names": names, "error": error}))
"""


def real_reader(data: bytes, how: str = "pickle") -> list[str]:
    """The names CPython's unpickler resolves, behind the real decompressor ``how``."""
    out = subprocess.run(
        [sys.executable, "-I", "-c", _REAL, how], input=data, capture_output=True, check=True
    )
    return list(json.loads(out.stdout)["names"])


def high(report: Report) -> set[str]:
    return {
        str(f.evidence.get("import") or f.evidence.get("call"))
        for f in report.findings
        if f.severity >= Severity.HIGH and f.rule_id == "models/pickle-dangerous-import"
    }


def _lzma_alone(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_ALONE)


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def _lz4(data: bytes) -> bytes:
    import lz4.frame

    return bytes(lz4.frame.compress(data))


# joblib's _detect_compressor and pandas' compression inference, each under a name that says
# nothing about it
WRAPPERS = {
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "lzma": _lzma_alone,
    "zlib": zlib.compress,
    "zstd": _zstd,
    "lz4": _lz4,
    "zip": lambda d: b.zip_bytes({"frame.pkl": d}, deflate=True),
}


@pytest.mark.parametrize("how", sorted(WRAPPERS))
def test_every_compressor_a_loader_infers(tmp_path: Path, scan: Scan, how: str) -> None:
    data = WRAPPERS[how](PAYLOAD)
    assert "os.system" in real_reader(data, how)
    (tmp_path / "weights.bin").write_bytes(data)
    report = scan(tmp_path / "weights.bin")
    assert high(report) == {"os.system"}, how
    assert not report.errors


def test_joblib_zfile_format(tmp_path: Path, scan: Scan) -> None:
    """joblib < 0.10 files: ``ZF``, the length in 19 hex characters, then zlib."""
    data = b"ZF" + f"0x{len(PAYLOAD):016x}L".encode()[:19].ljust(19) + zlib.compress(PAYLOAD)
    (tmp_path / "old.pkl").write_bytes(data)
    assert high(scan(tmp_path / "old.pkl")) == {"os.system"}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x95" + (len(PAYLOAD) - 3).to_bytes(8, "little") + PAYLOAD[2:], id="frame"),
        pytest.param(PAYLOAD[2:], id="no-proto"),
        pytest.param(b"K\x010" + PAYLOAD[2:], id="int-then-pop"),
        pytest.param(b"N0" + b.global_op("os", "system") + b"(Vid\ntR.", id="none-pop"),
    ],
)
def test_headerless_pickles(tmp_path: Path, scan: Scan, data: bytes) -> None:
    """pickle.load needs no PROTO: a FRAME first, or any opcode, and it runs."""
    assert "os.system" in real_reader(data)
    (tmp_path / "model.dat").write_bytes(data)
    assert high(scan(tmp_path / "model.dat")) == {"os.system"}


def test_pickle_view_of_a_file_with_no_model_name(tmp_path: Path, scan: Scan) -> None:
    data = b"]" + b"0" + PAYLOAD[2:]  # EMPTY_LIST, POP, then the call
    assert "os.system" in real_reader(data)
    (tmp_path / "README").write_bytes(data)
    assert high(scan(tmp_path / "README")) == {"os.system"}


def test_polyglot_zip_behind_a_pickle(tmp_path: Path, scan: Scan) -> None:
    """A harmless pickle first (what pickle.load and torch's legacy path read), a zip at the
    end (what zipfile finds through its end record): both views are analysed."""
    hidden = b.zip_bytes({"x/data.pkl": b.call_pickle("subprocess", "call", "id")})
    data = b"\x80\x02}q\x00." + hidden
    (tmp_path / "model.pkl").write_bytes(data)
    report = scan(tmp_path / "model.pkl")
    assert high(report) == {"subprocess.call"}
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["x/data.pkl"]


def test_polyglot_pickle_in_front_of_a_gguf_file(tmp_path: Path, scan: Scan) -> None:
    """A GGUF file whose first bytes also read as a pickle: pickle.load from offset 0 (the view
    torch.load takes for any file that does not start with a zip header) reaches the call."""
    data = PAYLOAD + b.gguf({"general.name": "x"})
    assert "os.system" in real_reader(data)
    (tmp_path / "model.gguf").write_bytes(data)
    assert high(scan(tmp_path / "model.gguf")) == {"os.system"}


def test_hdf5_user_block_holding_a_pickle(tmp_path: Path, scan: Scan) -> None:
    """HDF5 allows a user block before the superblock (at 512, 1024, ...): h5py opens the file,
    pickle.load reads the block."""
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "model.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {}})
    data = bytearray(path.read_bytes())
    data[: len(PAYLOAD)] = PAYLOAD
    path.write_bytes(bytes(data))
    with h5py.File(path, "r") as f:
        assert "model_config" in f.attrs
    report = scan(path)
    assert high(report) == {"os.system"}
    assert report.scanned[0].kind == "keras-h5"


@pytest.mark.parametrize("name", ["ARCHIVE/DATA.PKL", "Archive/Data.Pkl", "x/data.PKL"])
def test_torch_members_found_case_insensitively(tmp_path: Path, scan: Scan, name: str) -> None:
    """PyTorch's reader (miniz) looks records up without regard to case."""
    data = b.zip_bytes({name: PAYLOAD, name.split("/")[0] + "/version": b"3\n"})
    (tmp_path / "model.pt").write_bytes(data)
    report = scan(tmp_path / "model.pt")
    assert high(report) == {"os.system"}
    assert report.scanned[0].kind == "pytorch-zip"


def test_missing_decompressor_is_an_error_not_a_skip(
    tmp_path: Path, scan: Scan, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "model.joblib").write_bytes(_lz4(PAYLOAD))
    monkeypatch.setitem(sys.modules, "lz4", None)
    monkeypatch.setitem(sys.modules, "lz4.frame", None)
    report = scan(tmp_path / "model.joblib", isolate=False)
    assert [e.message for e in report.errors] == [
        "lz4 stream not decompressed: the lz4 module is missing (pip install 'mlstix[scan]')"
    ]


def test_benign_files_stay_quiet_in_every_view(tmp_path: Path, scan: Scan) -> None:
    """Formats whose first byte is an opcode (safetensors lengths, bz2's 'B', GGUF's 'G') are
    not reported through the pickle view."""
    tensors = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    (tmp_path / "a.safetensors").write_bytes(b.safetensors(tensors, b"\0" * 8))
    (tmp_path / "b.gguf").write_bytes(b.gguf({"general.name": "x"}))
    (tmp_path / "c.npy").write_bytes(b.npy("<f4", (2,), b"\0" * 8))
    (tmp_path / "d.bin").write_bytes(bz2.compress(b"\x80\x02}q\x00."))
    report = scan(tmp_path)
    serialization = [f for f in report.findings if f.rule_id != "models/unsigned-model"]
    assert [f.message for f in serialization if f.severity >= Severity.MEDIUM] == []
    assert not report.errors


def test_tar_whose_first_header_is_a_pickle(tmp_path: Path, scan: Scan) -> None:
    """A tar for tarfile (and torch's legacy path) whose first member *name* is a pickle that
    pickle.load, joblib or numpy reach from offset 0."""
    import tarfile

    name = "cos\nsystem\n(S'id'\ntR."
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"data"))
    data = buf.getvalue()
    with tarfile.open(fileobj=io.BytesIO(data)) as real_tar:
        assert real_tar.getnames() == [name]
    assert "os.system" in real_reader(data)
    (tmp_path / "model.tar").write_bytes(data)
    report = scan(tmp_path / "model.tar")
    assert report.scanned[0].kind == "tar"
    assert high(report) == {"os.system"}


def test_zip_appended_to_a_gzip_stream(tmp_path: Path, scan: Scan) -> None:
    """gzip for joblib (the stream is a harmless pickle), a zip for zipfile and pandas'
    compression="zip" (it finds the archive through its end record)."""
    hidden = b.zip_bytes({"frame.pkl": PAYLOAD})
    data = gzip.compress(b"\x80\x02}q\x00.") + hidden
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.read("frame.pkl") == PAYLOAD
    (tmp_path / "frame.pkl.zip").write_bytes(data)
    assert high(scan(tmp_path / "frame.pkl.zip")) == {"os.system"}
