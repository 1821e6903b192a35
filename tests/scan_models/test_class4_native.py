"""Class 4, native code shipped with a model: an AOTInductor package's ``.so`` (``dlopen``-ed
by ``aoti_load_package``), custom-op libraries and executables beside the weights. Each was
clean (an ELF member or file was not recognized at all)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from . import builders as b
from .conftest import Scan, rules


def _elf(e_type: int) -> bytes:
    ident = b"\x7fELF" + bytes([2, 1, 1]) + b"\x00" * 9
    return ident + struct.pack("<HHI", e_type, 62, 1) + b"\x00" * 200


def _pe() -> bytes:
    return b"MZ" + b"\x00" * 58 + struct.pack("<I", 64) + b"PE\x00\x00" + b"\x00" * 200


@pytest.mark.parametrize(
    ("data", "what"),
    [(_elf(3), "ELF shared library"), (_elf(2), "ELF executable"),
     (b"\xcf\xfa\xed\xfe" + b"\x00" * 60, "Mach-O binary"), (_pe(), "PE (Windows) binary")],
    ids=["elf-so", "elf-exec", "mach-o", "pe"],
)  # fmt: skip
def test_a_native_binary_beside_the_model_is_high(
    tmp_path: Path, scan: Scan, data: bytes, what: str
) -> None:
    (tmp_path / "libops.so").write_bytes(data)
    report = scan(tmp_path / "libops.so")
    hits = [f for f in report.findings if f.rule_id == "models/shipped-python-code"]
    assert hits and hits[0].evidence["binary"] == what


def test_an_aotinductor_package_ships_its_library(tmp_path: Path, scan: Scan) -> None:
    members = {"model/archive_format": b"pt2", "model/data/aotinductor/model/c1.so": _elf(3),
               "model/data/aotinductor/model/c1_metadata.json": b"{}"}  # fmt: skip
    (tmp_path / "model.pt2").write_bytes(b.zip_bytes(members))
    assert "models/shipped-python-code" in rules(scan(tmp_path / "model.pt2"), "model.pt2")


def test_text_that_starts_like_a_header_is_not_native(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "notes.txt").write_bytes(b"MZ is not enough" + b" " * 100)
    report = scan(tmp_path)
    assert "models/shipped-python-code" not in rules(report)
