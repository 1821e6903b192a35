"""Class 3 of issue 10 (containers): archives as the real readers see them. A zip with several
central directories, ZIP64 records that shadow the 32-bit ones, duplicate names; tar GNU sparse
and PAX members; NumPy array lengths computed the way ``numpy.load`` computes them. Each case
checks the real reader (``zipfile``, ``tarfile``, ``numpy``) on the same bytes."""

from __future__ import annotations

import io
import struct
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from . import builders as b
from .conftest import Scan, imports

BENIGN = b.torch_state_pickle()
EVIL_A = b.call_pickle("os", "system", "id")
EVIL_B = b.call_pickle("subprocess", "check_call", "id")


def _local(name: str, data: bytes) -> bytes:
    crc = zipfile.crc32(data)
    n = name.encode()
    head = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data),
                       len(n), 0)  # fmt: skip
    return head + n + data


def _central(name: str, data: bytes, offset: int) -> bytes:
    crc = zipfile.crc32(data)
    n = name.encode()
    head = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, len(data),
                       len(data), len(n), 0, 0, 0, 0, 0, offset)  # fmt: skip
    return head + n


def _eocd(count: int, size: int, offset: int, comment: int = 0) -> bytes:
    return struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, size, offset, comment)


def _zip64(count: int, size: int, offset: int, at: int) -> bytes:
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size,
                         offset)  # fmt: skip
    return record + struct.pack("<4sIQI", b"PK\x06\x07", 0, at, 1)


def _two_members() -> tuple[bytes, bytes, bytes]:
    a, b_ = _local("a/data.pkl", EVIL_A), _local("b/data.pkl", EVIL_B)
    return a + b_, _central("a/data.pkl", EVIL_A, 0), _central("b/data.pkl", EVIL_B, len(a))


def test_two_central_directories_both_read(tmp_path: Path, scan: Scan) -> None:
    """CPython takes the last end record (B); a strict reader takes the one whose comment runs
    to the end of the file (A). Both directories are analysed."""
    locals_, cd_a, cd_b = _two_members()
    at_a = len(locals_)
    at_b = at_a + len(cd_a) + 22
    data = (
        locals_
        + cd_a
        + _eocd(1, len(cd_a), at_a, comment=len(cd_b) + 22)
        + cd_b
        + _eocd(1, len(cd_b), at_b)
    )
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["b/data.pkl"]
    (tmp_path / "model.pt").write_bytes(data)
    report = scan(tmp_path / "model.pt")
    assert imports(report) == {"os.system", "subprocess.check_call"}
    assert any("2 different central directories" in f.message for f in report.findings)


def test_zip64_record_shadowing_the_32_bit_directory(tmp_path: Path, scan: Scan) -> None:
    """The 32-bit end record names directory A; a ZIP64 locator before it names directory B,
    which CPython and miniz take. Readers without ZIP64 take A: both are analysed."""
    locals_, cd_a, cd_b = _two_members()
    at_a = len(locals_)
    at_b = at_a + len(cd_a)
    at_z = at_b + len(cd_b)
    data = locals_ + cd_a + cd_b + _zip64(1, len(cd_b), at_b, at_z) + _eocd(1, len(cd_a), at_a)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["b/data.pkl"]
    (tmp_path / "model.pt").write_bytes(data)
    assert imports(scan(tmp_path / "model.pt")) == {"os.system", "subprocess.check_call"}


def test_duplicate_names_every_copy_is_read(tmp_path: Path, scan: Scan) -> None:
    """zipfile returns the last of two same-named members, miniz's sorted lookup either one."""
    first, second = _local("m/data.pkl", BENIGN), _local("m/data.pkl", EVIL_A)
    cd = _central("m/data.pkl", BENIGN, 0) + _central("m/data.pkl", EVIL_A, len(first))
    data = first + second + cd + _eocd(2, len(cd), len(first) + len(second))
    assert zipfile.ZipFile(io.BytesIO(data)).read("m/data.pkl") == EVIL_A
    (tmp_path / "model.pt").write_bytes(data)
    assert imports(scan(tmp_path / "model.pt")) == {"os.system"}


def test_pax_member_with_a_long_name(tmp_path: Path, scan: Scan) -> None:
    name = "x" * 150 + "/pickle"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(EVIL_A)
        info.pax_headers = {"comment": "a" * 600}
        tar.addfile(info, io.BytesIO(EVIL_A))
    (tmp_path / "legacy.tar").write_bytes(buf.getvalue())
    report = scan(tmp_path / "legacy.tar")
    assert imports(report) == {"os.system"}
    assert {f.location.member for f in report.findings if f.rule_id.endswith("import")} == {name}


def test_gnu_sparse_member_read_as_tarfile_reads_it(tmp_path: Path, scan: Scan) -> None:
    """A GNU sparse member's stored bytes leave out its holes: the pickle below spans a hole
    (zeros inside a string argument), so only the reassembled content shows the call."""
    rest_at = 17 * 4096  # the call after a hole of whole blocks
    head = b"\x80\x02" + b.global_op("os", "system") + b"X"
    head += struct.pack("<I", rest_at - len(head) - 4)
    data = head + b"\x00" * (rest_at - len(head)) + b"\x85R."
    src = tmp_path / "src"
    src.mkdir()
    with (src / "pickle").open("wb") as fp:  # a file with a hole, as GNU tar's --sparse wants
        fp.write(head)
        fp.seek(rest_at)
        fp.write(b"\x85R.")
    assert (src / "pickle").read_bytes() == data
    archive = tmp_path / "legacy.tar"
    done = subprocess.run(
        ["tar", "--sparse", "--format=gnu", "-cf", str(archive), "-C", str(src), "pickle"],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"GNU tar could not write a sparse archive: {done.stderr.decode()[:200]}")
    with tarfile.open(archive) as tar:
        info = tar.getmember("pickle")
        assert info.sparse  # really stored sparse
        assert tar.extractfile(info).read() == data  # type: ignore[union-attr]
    report = scan(archive)
    calls = [f.evidence for f in report.findings if f.evidence.get("import") == "os.system"]
    assert calls and calls[0]["called"] is True


NPY_CASES = [
    # (descr, shape, data length, object array)
    ("<f8", (3,), 24, False),
    ("float64", (3,), 24, False),
    ("<U4", (2,), 32, False),
    ("|S3", (2,), 6, False),
    ([("Obj", "<f4"), ("Offset", "<i8")], (2,), 24, False),  # field names with an O
    ([("a", "<i4", (2, 2))], (1,), 16, False),  # sub-array field
    ("|O", (1,), 0, True),
    ("object", (1,), 0, True),
    ([("x", "<i4"), ("o", "|O")], (1,), 0, True),
]


@pytest.mark.parametrize(("descr", "shape", "length", "objects"), NPY_CASES)
def test_npy_lengths_as_numpy_computes_them(
    tmp_path: Path, scan: Scan, descr: object, shape: tuple[int, ...], length: int, objects: bool
) -> None:
    np = pytest.importorskip("numpy")
    payload = EVIL_A if objects else b"\x01" * length
    data = b.npy(descr, shape, payload)  # type: ignore[arg-type]
    if not objects:
        assert np.load(io.BytesIO(data), allow_pickle=False).nbytes == length
    (tmp_path / "a.npy").write_bytes(data)
    report = scan(tmp_path / "a.npy")
    assert imports(report) == ({"os.system"} if objects else set())
    assert not report.errors


def test_npy_python2_header(tmp_path: Path, scan: Scan) -> None:
    np = pytest.importorskip("numpy")
    header = b"{'descr': '<i8', 'fortran_order': False, 'shape': (2L,), }"
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x00" * 16
    assert np.load(io.BytesIO(data)).shape == (2,)
    (tmp_path / "py2.npy").write_bytes(data)
    report = scan(tmp_path / "py2.npy")
    assert not report.errors
    assert [f.rule_id for f in report.findings if f.rule_id.startswith("models/unrec")] == []


def test_bytes_after_a_numeric_array_are_not_skipped_silently(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "a.npy").write_bytes(b.npy("<f4", (1,), b"\0" * 4 + EVIL_A))
    report = scan(tmp_path / "a.npy")
    assert any("bytes follow the array data" in f.message for f in report.findings)


@settings(max_examples=150, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=511),
    value=st.integers(min_value=0, max_value=255),
    field=st.sampled_from(
        [b"0000644\x00", b" 12345\x00 ", b"\x80" + b"\x00" * 7, b"1 2\x00xyz\x00"]
    ),
)
def test_tar_recognition_agrees_with_tarfile(position: int, value: int, field: bytes) -> None:
    """Whether a file is a tar is what tarfile decides from its first header (checksum, not
    the ustar magic): the recognizer agrees with tarfile on mutated headers."""
    from mlstix.scan.models._sniff import _tar_header

    header = bytearray(_tar("pickle", EVIL_A)[:512])
    header[position] = value
    header[148:156] = field if position % 3 == 0 else header[148:156]
    try:
        with tarfile.open(fileobj=io.BytesIO(bytes(header) + b"\0" * 1024), mode="r:"):
            accepted = True
    except tarfile.TarError:
        accepted = False
    assert _tar_header(bytes(header)) == accepted


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_DEFLATED])
def test_npz_members_in_every_method_zipfile_reads(tmp_path: Path, scan: Scan, method: int) -> None:
    """numpy.load reads npz members through zipfile, which also inflates bzip2 and LZMA."""
    np = pytest.importorskip("numpy")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        z.writestr("ok.npy", b.npy("<f4", (1,), b"\0" * 4))
        z.writestr("obj.npy", b.npy("|O", (1,), EVIL_A))
    with pytest.raises(ValueError, match="allow_pickle"):
        np.load(io.BytesIO(buf.getvalue()))["obj"]
    (tmp_path / "arrays.npz").write_bytes(buf.getvalue())
    report = scan(tmp_path / "arrays.npz")
    assert imports(report) == {"os.system"}
    assert not report.errors


def _legacy_tar(storages: bytes, tensors: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (
            ("sys_info", b"\x80\x02}q\x00."),
            ("pickle", b.torch_state_pickle()),
            ("storages", storages),
            ("tensors", tensors),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _storage_args(key: str, payload: bytes | None = None) -> bytes:
    """``(key, location, storage_type)`` as torch's legacy writer pickles it, or a payload."""
    if payload is not None:
        return payload
    return (b"\x80\x02" + b.unicode_op(key) + b.unicode_op("cpu")
            + b.global_op("torch", "FloatStorage") + b"\x87q\x00.")  # fmt: skip


def _real_legacy_storages(data: bytes) -> list[str]:
    """torch.serialization's legacy tar reader on the ``storages`` member (count, then per
    storage: args pickle, 8-byte element count, the elements), with an unpickler that
    records the names it resolves and imports nothing."""
    import pickle

    names: list[str] = []

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            names.append(f"{module}.{name}")
            return lambda *a, **k: ("stub", a)

    f = io.BytesIO(data)
    for _ in range(Recorder(f).load()):
        Recorder(f).load()
        (count,) = struct.unpack("<q", f.read(8))
        f.read(count * 4)
    return names


def test_legacy_tar_pickles_between_storage_records(tmp_path: Path, scan: Scan) -> None:
    """The payload is the args pickle of the second storage, after the raw data of the first:
    torch reads it, a stacked-pickle reader runs into the raw floats and never gets there."""
    raw = struct.pack("<q", 3) + struct.pack("<3f", 1.0, 0.5, 0.25)
    storages = (
        b"\x80\x02K\x02."
        + _storage_args("0") + raw
        + _storage_args("1", EVIL_A) + raw
    )  # fmt: skip
    assert "os.system" in _real_legacy_storages(storages)
    (tmp_path / "legacy.tar").write_bytes(_legacy_tar(storages, b"\x80\x02K\x00."))
    report = scan(tmp_path / "legacy.tar")
    assert report.scanned[0].kind == "pytorch-legacy-tar"
    assert imports(report) == {"os.system"}
    assert not report.errors


def test_legacy_tar_storage_cut_short_is_an_error(tmp_path: Path, scan: Scan) -> None:
    storages = b"\x80\x02K\x01." + _storage_args("0") + struct.pack("<q", 1000) + b"\0" * 8
    (tmp_path / "legacy.tar").write_bytes(_legacy_tar(storages, b"\x80\x02K\x00."))
    report = scan(tmp_path / "legacy.tar")
    assert [e.message.split(": ", 1)[-1][:40] for e in report.errors] == [
        "legacy PyTorch checkpoint is truncated: "
    ]
