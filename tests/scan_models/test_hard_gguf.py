"""GGUF bytes no loader reads, and ggml types past the table (``formats/_gguf_tensors.py``).

llama.cpp and gguf-py place each tensor at the data section's start plus its offset and read
its own bytes only: what follows the last tensor's padded data, and the padding to the
alignment (which the file chooses: ``general.alignment``), are skipped. A polyglot hides a
payload for another loader there; it is a medium finding (the file itself loads). A ggml type
at or past ``GGML_TYPE_COUNT`` (42) is refused by ``gguf_init_from_file``: an error and a
high finding, as other tensor infos llama.cpp refuses.
"""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest

from mlstix.findings.model import Report

from . import builders as b
from .conftest import Scan, rules
from .test_class6_gguf_tensors import _F32, _GOOD, gguf_file

REAL = Path(__file__).with_name("real") / "frameworks"
_PAYLOAD = b.call_pickle("os", "system", "id")


def _scan(tmp_path: Path, scan: Scan, data: bytes) -> Report:
    (tmp_path / "model.gguf").write_bytes(data)
    return scan(tmp_path / "model.gguf")


def _hidden(report: Report) -> list[str]:
    found = [f for f in report.findings if f.rule_id == "models/gguf-hidden-data"]
    assert all(f.severity.value == "medium" for f in found)
    return [f.message for f in found]


@pytest.mark.parametrize("name", ["model.gguf", "model_align64.gguf"])
def test_bytes_after_a_real_files_tensor_data_are_hidden_data(
    tmp_path: Path, scan: Scan, name: str
) -> None:
    data = (REAL / name).read_bytes()
    report = _scan(tmp_path, scan, data + _PAYLOAD)
    assert not report.errors
    assert _hidden(report) == [
        f"GGUF {len(_PAYLOAD)} bytes after the tensor data (from offset {len(data)}) that no "
        "GGUF loader reads"
    ]


@pytest.mark.parametrize("name", ["model.gguf", "model_align64.gguf"])
def test_real_files_have_no_hidden_data(tmp_path: Path, scan: Scan, name: str) -> None:
    assert _hidden(_scan(tmp_path, scan, (REAL / name).read_bytes())) == []


def test_trailing_bytes_after_a_hand_built_file_are_hidden_data(tmp_path: Path, scan: Scan) -> None:
    assert len(_hidden(_scan(tmp_path, scan, _GOOD + b"\x00"))) == 1
    assert _hidden(_scan(tmp_path, scan, _GOOD)) == []


@pytest.mark.parametrize("tail", [b"\x80\x02N.", _PAYLOAD], ids=["short", "payload"])
def test_bytes_after_the_infos_of_a_file_without_tensors_are_hidden_data(
    tmp_path: Path, scan: Scan, tail: bytes
) -> None:
    """No tensors: whatever follows the metadata is read by nothing, even inside what would
    be the padding before an (empty) data section."""
    data = b.gguf({"general.name": "x"})
    assert len(_hidden(_scan(tmp_path, scan, data + tail))) == 1
    assert _hidden(_scan(tmp_path, scan, data)) == []
    assert _hidden(_scan(tmp_path, scan, data + b"\x00" * 7)) == []


def _big_alignment(pad_between: bytes, pad_before: bytes = b"") -> bytes:
    """Two f32 tensors of 16 bytes at alignment 4096: 4080 padding bytes after the first,
    the data section at 4096; ``pad_before`` overwrites the start of the padding before it."""
    data = b"\x01" * 16 + pad_between.ljust(4080, b"\x00") + b"\x02" * 16
    out = gguf_file([("a", [4], _F32, 0), ("b", [4], _F32, 4096)], data, 4096)
    head = len(out) - len(data) - 4096 + 512  # inside the padding before the data section
    return out[:head] + pad_before + out[head + len(pad_before) :]


def test_a_payload_in_padding_between_tensors_is_hidden_data(tmp_path: Path, scan: Scan) -> None:
    report = _scan(tmp_path, scan, _big_alignment(_PAYLOAD))
    assert not report.errors
    (message,) = _hidden(report)
    assert "padding of 4080 bytes" in message and "holds data" in message


def test_a_payload_in_padding_before_the_data_is_hidden_data(tmp_path: Path, scan: Scan) -> None:
    (message,) = _hidden(_scan(tmp_path, scan, _big_alignment(b"", _PAYLOAD)))
    assert "holds data" in message


def test_zero_padding_at_a_large_alignment_is_clean(tmp_path: Path, scan: Scan) -> None:
    report = _scan(tmp_path, scan, _big_alignment(b""))
    assert not report.errors and _hidden(report) == []


@pytest.mark.parametrize(("gtype", "bad"), [(41, False), (42, True), (1 << 20, True)])
def test_types_past_the_count_are_refused(
    tmp_path: Path, scan: Scan, gtype: int, bad: bool
) -> None:
    """A type mlstix cannot size left the data unchecked; llama.cpp refuses it (and gguf-py,
    where installed, refuses the same types)."""
    data = gguf_file([("a", [128], gtype, 0), ("b", [4], _F32, 32)], b"\x00" * 48)
    report = _scan(tmp_path, scan, data)
    if importlib.util.find_spec("gguf") is not None:
        import gguf

        refused = False
        try:
            gguf.GGUFReader(tmp_path / "model.gguf")
        except ValueError:
            refused = True
        assert refused is bad
    assert bool(report.errors) is bad
    invalid = [f for f in report.findings if f.rule_id == "models/gguf-invalid"]
    assert bool(invalid) is bad
    if bad:
        assert {f.severity.value for f in invalid} == {"high"}
        assert f"ggml type {gtype}" in invalid[0].message
    assert "models/gguf-hidden-data" not in rules(report)


def test_ggufs_own_reader_reads_the_hidden_bytes_file_as_the_clean_one(tmp_path: Path) -> None:
    """gguf-py places the tensors of the file with a payload in its padding where they are in
    the clean one: the loader does not see the payload."""
    gguf = pytest.importorskip("gguf", reason="ggml's gguf package is not installed")
    path = tmp_path / "model.gguf"
    seen = []
    for data in (_big_alignment(b""), _big_alignment(_PAYLOAD)):
        path.write_bytes(data)
        seen.append([(t.name, bytes(t.data.tobytes())) for t in gguf.GGUFReader(path).tensors])
    assert seen[0] == seen[1] == [("a", b"\x01" * 16), ("b", b"\x02" * 16)]


def _be_gguf(template: str, tensors: list[tuple[str, int, int]], data: bytes) -> bytes:
    """A big-endian GGUF v3 (what gguf-py writes with endianess=BIG): a chat template and
    f32 ``tensors`` (name, elements, offset), then ``data`` at the next multiple of 32."""

    def s(text: str) -> bytes:
        return struct.pack(">Q", len(text.encode())) + text.encode()

    out = b"GGUF" + struct.pack(">IQQ", 3, len(tensors), 1)
    out += s("tokenizer.chat_template") + struct.pack(">I", 8) + s(template)
    for name, n, offset in tensors:
        out += s(name) + struct.pack(">Iq", 1, n) + struct.pack(">iQ", _F32, offset)
    return out + b"\x00" * (-len(out) % 32) + data


_ESCAPE = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"


@pytest.mark.parametrize(
    ("template", "tail", "rule", "severity"),
    [
        (_ESCAPE, b"", "models/gguf-template-injection", "critical"),
        ("{{ messages }}", _PAYLOAD, "models/gguf-hidden-data", "medium"),
        ("{{ messages }}", b"", None, None),
    ],
    ids=["template", "hidden-data", "clean"],
)
def test_a_big_endian_file_is_read_byte_swapped(
    tmp_path: Path, scan: Scan, template: str, tail: bytes, rule: str | None, severity: str | None
) -> None:
    """gguf-py reads a file whose version has a zero low half little-endian as big-endian
    (llama.cpp on a big-endian host reads it natively): so does mlstix (it was an unreadable
    file, its template unjudged)."""
    data = _be_gguf(
        template, [("a", 4, 0), ("b", 4, 32)], b"\x01" * 16 + b"\x00" * 16 + b"\x02" * 16
    )
    report = _scan(tmp_path, scan, data + tail)
    assert not report.errors
    found = {
        (f.rule_id, f.severity.value)
        for f in report.findings
        if f.rule_id.startswith("models/gguf")
    }
    assert found == ({(rule, severity)} if rule else set())
    if importlib.util.find_spec("gguf") is not None:
        import gguf

        reader = gguf.GGUFReader(tmp_path / "model.gguf")
        field = reader.fields["tokenizer.chat_template"]
        assert bytes(field.parts[field.data[0]]).decode() == template
        assert [(t.name, t.data.tobytes()[:1]) for t in reader.tensors] == [
            ("a", b"\x01"),
            ("b", b"\x02"),
        ]
