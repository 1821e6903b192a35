"""Class 6 of issue 10 (malformed is an error): GGUF tensor infos llama.cpp refuses.

``gguf_init_from_file`` wants the tensors one after the other, in order, each padded to the
alignment (an overlap or a gap is refused), and the model loader wants every tensor's data
inside the file; names under 64 bytes and unique, at most 4 dimensions, a known type whose
blocks divide a row. Files that break this are an error for the file and an anomaly finding.
Where the ``gguf`` package (ggml's own Python reader) is installed, it reads the well-formed
files here and finds the same data.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mlstix.findings.model import Report

from .conftest import Scan, rules

_F32, _Q4_0 = 0, 2


def _gstr(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf_file(
    tensors: list[tuple[str, list[int], int, int]],
    data: bytes,
    alignment: int | None = None,
    pad: bool = True,
) -> bytes:
    """GGUF v3 with ``tensors`` (name, dimensions, ggml type, offset) and ``data`` after the
    infos, at the next multiple of the alignment."""
    kv = b""
    if alignment is not None:
        kv = _gstr("general.alignment") + struct.pack("<II", 4, alignment)
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 1 if kv else 0) + kv
    for name, dims, gtype, offset in tensors:
        out += _gstr(name) + struct.pack(f"<I{len(dims)}q", len(dims), *dims)
        out += struct.pack("<iQ", gtype, offset)
    if pad:
        out += b"\x00" * (-len(out) % (alignment or 32))
    return out + data


_GOOD = gguf_file([("a", [4], _F32, 0), ("b", [2, 2], _F32, 32)], b"\x01" * 16 + b"\x00" * 16
                  + b"\x02" * 16 + b"\x00" * 16)  # fmt: skip

BAD = {
    "overlap": gguf_file([("a", [8], _F32, 0), ("b", [4], _F32, 0)], b"\x00" * 64),
    "gap": gguf_file([("a", [4], _F32, 0), ("b", [4], _F32, 64)], b"\x00" * 96),
    "out-of-order": gguf_file([("a", [4], _F32, 32), ("b", [4], _F32, 0)], b"\x00" * 64),
    "past-the-end": gguf_file([("a", [4], _F32, 0), ("b", [1 << 20], _F32, 32)], b"\x00" * 64),
    "truncated-data": gguf_file([("a", [64], _F32, 0)], b"\x00" * 100),
    "duplicate-name": gguf_file([("a", [4], _F32, 0), ("a", [4], _F32, 32)], b"\x00" * 64),
    "five-dimensions": gguf_file([("a", [1, 1, 1, 1, 4], _F32, 0)], b"\x00" * 32),
    "name-of-64-bytes": gguf_file([("n" * 64, [4], _F32, 0)], b"\x00" * 32),
    "row-not-whole-blocks": gguf_file([("a", [16], _Q4_0, 0)], b"\x00" * 32),
    "removed-type": gguf_file([("a", [32], 4, 0)], b"\x00" * 32),
    "type-past-the-count": gguf_file([("a", [4], 42, 0)], b"\x00" * 32),
    "zero-dimension": gguf_file([("a", [4, 0], _F32, 0)], b"\x00" * 32),
    "alignment-not-a-power-of-2": gguf_file([("a", [4], _F32, 0)], b"\x00" * 48, 24),
    "duplicate-metadata-key": (
        b"GGUF" + struct.pack("<IQQ", 3, 0, 2)
        + (_gstr("general.name") + struct.pack("<I", 8) + _gstr("x")) * 2
    ),
}  # fmt: skip


def _scan(tmp_path: Path, scan: Scan, data: bytes) -> Report:
    (tmp_path / "model.gguf").write_bytes(data)
    return scan(tmp_path / "model.gguf")


@pytest.mark.parametrize("name", sorted(BAD))
def test_tensor_infos_llama_cpp_refuses_are_an_error(tmp_path: Path, scan: Scan, name: str) -> None:
    report = _scan(tmp_path, scan, BAD[name])
    assert report.scanned[0].kind == "gguf"
    assert report.errors, name
    found = set(rules(report))
    assert found & {"models/gguf-invalid", "models/unrecognized-model-file"}, found


@pytest.mark.parametrize(
    "data",
    [
        _GOOD,
        gguf_file([("q", [64, 2], _Q4_0, 0), ("f", [3], _F32, 96)], b"\x00" * 128, 32),
        gguf_file([("a", [4], _F32, 0), ("b", [4], _F32, 64)], b"\x00" * 80, 64),
        gguf_file([("a", [4], _F32, 0)], b"\x00" * 16),  # the last tensor's padding left out
        gguf_file([("q1", [128], 41, 0)], b"\x00" * 32),  # Q1_0, the last type ggml has
        gguf_file([], b""),
    ],
    ids=["f32", "q4_0", "alignment-64", "no-last-padding", "last-known-type", "no-tensors"],
)
def test_well_formed_tensor_infos_are_clean(tmp_path: Path, scan: Scan, data: bytes) -> None:
    report = _scan(tmp_path, scan, data)
    assert not report.errors
    assert "models/gguf-invalid" not in rules(report)


def test_ggufs_own_reader_agrees(tmp_path: Path, scan: Scan) -> None:
    """gguf-py reads the well-formed file's data where mlstix places it, and every file it
    refuses is an error for mlstix too (it takes overlaps and gaps that llama.cpp refuses:
    two readers that disagree on the same bytes)."""
    gguf = pytest.importorskip("gguf", reason="ggml's gguf package is not installed")
    path = tmp_path / "model.gguf"
    path.write_bytes(_GOOD)
    reader = gguf.GGUFReader(path)
    assert [(t.name, bytes(t.data.tobytes())[:1]) for t in reader.tensors] == [
        ("a", b"\x01"),
        ("b", b"\x02"),
    ]
    for data in BAD.values():
        path.write_bytes(data)
        try:
            gguf.GGUFReader(path)
        except (ValueError, KeyError):  # KeyError: a metadata key given twice
            assert scan(path).errors


@pytest.mark.parametrize("name", ["model.gguf", "model_align64.gguf"])
def test_a_real_gguf_cut_inside_its_last_tensor_is_an_error(
    tmp_path: Path, scan: Scan, name: str
) -> None:
    """Files gguf-py's writer made (real/make_frameworks.py) read clean whole (class 8); cut
    inside the last tensor's data they are an error. Cut in its trailing padding only, they
    still load (llama.cpp's loader checks each tensor's own bytes)."""
    data = (Path(__file__).with_name("real") / "frameworks" / name).read_bytes()
    assert not _scan(tmp_path, scan, data[:-20]).errors  # padding of 28 or 60 bytes
    report = _scan(tmp_path, scan, data[:-100])
    assert report.errors and "models/gguf-invalid" in rules(report)
    assert {f.severity.value for f in report.findings if f.rule_id == "models/gguf-invalid"} == {
        "high"
    }
