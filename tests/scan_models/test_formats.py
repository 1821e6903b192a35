"""Each format recognized by content, with its format-specific checks."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from . import builders as b
from .conftest import Scan, imports, rules

FORMAT_RULES = {"models/unsigned-model", "models/no-provenance"}


def only(report, suffix: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    return [r for r in rules(report, suffix) if r not in FORMAT_RULES]


def test_kind_comes_from_content_not_extension(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "weights.safetensors").write_bytes(b.call_pickle("os", "system", "x"))
    (tmp_path / "model.pkl").write_bytes(b.safetensors({}, b""))
    report = scan(tmp_path)
    kinds = {Path(s.path).name: s.kind for s in report.scanned}
    assert kinds == {"weights.safetensors": "pickle", "model.pkl": "safetensors"}
    assert imports(report) == {"os.system"}


def test_model_named_file_of_no_known_format_is_reported(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "model.onnx").write_bytes(b"this is not a model at all")
    (tmp_path / "README.txt").write_bytes(b"not model named, not reported")
    report = scan(tmp_path)
    assert only(report) == ["models/unrecognized-model-file"]
    assert [s.path for s in report.scanned] == [str(tmp_path / "model.onnx")]


def test_npy_object_array_is_a_pickle(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "a.npy").write_bytes(b.npy("|O", (1,), b.call_pickle("os", "system", "x")))
    (tmp_path / "b.npy").write_bytes(b.npy("<f4", (2,), b"\x00" * 8))
    report = scan(tmp_path)
    assert imports(report) == {"os.system"}
    assert only(report, "b.npy") == []


def test_npz_members(tmp_path: Path, scan: Scan) -> None:
    npz = b.zip_bytes(
        {
            "w.npy": b.npy("<f4", (1,), b"\0" * 4),
            "obj.npy": b.npy("|O", (1,), b.call_pickle("webbrowser", "open", "u")),
        }
    )
    (tmp_path / "arrays.npz").write_bytes(npz)
    report = scan(tmp_path)
    assert report.scanned[0].kind == "numpy-npz"
    assert [
        (f.location.member, f.evidence["import"])
        for f in report.findings
        if f.rule_id == "models/pickle-dangerous-import"
    ] == [("obj.npy", "webbrowser.open")]


def _joblib_with_array(after: bytes) -> bytes:
    """joblib's layout: NumpyArrayWrapper built from a state dict, then the raw array bytes
    (with alignment padding) inside the pickle stream, then the rest of the pickle."""
    dtype = (
        b.global_op("numpy", "dtype")
        + b.unicode_op("f8")
        + b"\x89\x88\x87R"
        + b"(K\x03"
        + b.unicode_op("<")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    )
    state = (
        b"}("
        + b.unicode_op("subclass")
        + b.global_op("numpy", "ndarray")
        + b.unicode_op("shape")
        + b"K\x04\x85"
        + b.unicode_op("order")
        + b.unicode_op("C")
        + b.unicode_op("dtype")
        + dtype
        + b.unicode_op("allow_mmap")
        + b"\x89"
        + b.unicode_op("numpy_array_alignment_bytes")
        + b"K\x10u"
    )
    wrapper = b.global_op("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"b"
    raw = bytes([3]) + b"\xff" * 3 + b"(cos\nsystem\n" * 2 + b"\x00" * 8  # hostile-looking bytes
    assert len(raw) == 4 + 32
    return b"\x80\x04]" + wrapper + raw + b"a" + after + b"."


def test_joblib_raw_arrays_are_skipped(tmp_path: Path, scan: Scan) -> None:
    clean = _joblib_with_array(b"")
    (tmp_path / "clean.joblib").write_bytes(clean)
    evil = _joblib_with_array(b.call_pickle("os", "system", "x", proto=0)[:-1] + b"a")
    (tmp_path / "evil.joblib").write_bytes(evil)
    report = scan(tmp_path)
    kinds = {Path(s.path).name: s.kind for s in report.scanned}
    assert kinds == {"clean.joblib": "joblib", "evil.joblib": "joblib"}
    assert only(report, "clean.joblib") == ["models/pickle-format"]
    assert imports(report) == {"os.system"}


def test_safetensors_valid(tmp_path: Path, scan: Scan) -> None:
    header = {
        "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "I8", "shape": [4], "data_offsets": [16, 20]},
        "__metadata__": {"format": "pt"},
    }
    (tmp_path / "m.safetensors").write_bytes(b.safetensors(header, b"\0" * 20))
    assert only(scan(tmp_path)) == []


@pytest.mark.parametrize(
    ("header", "data_len", "needle"),
    [
        ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 64]}}, 16, "outside"),
        (
            {
                "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
            },
            24,
            "overlap",
        ),
        ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, 16, "needs 12 bytes"),
        ({"a": {"dtype": "Q9", "shape": [4], "data_offsets": [0, 16]}}, 16, "unknown dtype"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, 64, "unindexed"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": 1}}, 8, "exactly"),
    ],
)
def test_safetensors_inconsistent(
    tmp_path: Path, scan: Scan, header: dict, data_len: int, needle: str
) -> None:
    (tmp_path / "m.safetensors").write_bytes(b.safetensors(header, b"\0" * data_len))
    report = scan(tmp_path)
    bad = [f for f in report.findings if f.rule_id == "models/safetensors-invalid"]
    assert bad and needle in bad[0].message


def test_safetensors_header_length_beyond_file(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "m.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    report = scan(tmp_path)
    assert only(report) == ["models/unrecognized-model-file"]  # not even plausible safetensors


GOOD_TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
BAD_TEMPLATES = [
    "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ cycler|attr('_' ~ '_init_' ~ '_') }}",
    "{{ ''.__class__.mro()[1].__subclasses__() }}",
]


def test_gguf_chat_templates(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "good.gguf").write_bytes(
        b.gguf({"general.architecture": "llama", "tokenizer.chat_template": GOOD_TEMPLATE})
    )
    for i, tpl in enumerate(BAD_TEMPLATES):
        (tmp_path / f"bad{i}.gguf").write_bytes(
            b.gguf({"general.file_type": 1, "tokenizer.chat_template": tpl})
        )
    report = scan(tmp_path)
    flagged = sorted(
        Path(f.location.path).name
        for f in report.findings
        if f.rule_id == "models/gguf-template-injection"
    )
    assert flagged == ["bad0.gguf", "bad1.gguf", "bad2.gguf"]


def test_gguf_truncated(tmp_path: Path, scan: Scan) -> None:
    data = b.gguf({"tokenizer.chat_template": GOOD_TEMPLATE})
    (tmp_path / "t.gguf").write_bytes(data[:-10])
    assert only(scan(tmp_path)) == ["models/unrecognized-model-file"]


def test_onnx(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "clean.onnx").write_bytes(
        b.onnx_model(
            [("Conv", ""), ("Gelu", "com.microsoft")], external=["weights.bin"], raw=3 << 20
        )
    )
    (tmp_path / "escape.onnx").write_bytes(
        b.onnx_model([("Relu", "")], external=["../../etc/passwd", "/root/.ssh/id_rsa"])
    )
    (tmp_path / "custom.onnx").write_bytes(b.onnx_model([("Backdoor", "evil.ops")]))
    report = scan(tmp_path)
    assert {Path(s.path).name: s.kind for s in report.scanned} == {
        "clean.onnx": "onnx",
        "escape.onnx": "onnx",
        "custom.onnx": "onnx",
    }
    assert only(report, "clean.onnx") == []
    locs = sorted(
        f.evidence["location"]
        for f in report.findings
        if f.rule_id == "models/onnx-external-data-escape"
    )
    assert locs == ["../../etc/passwd", "/root/.ssh/id_rsa"]
    assert only(report, "custom.onnx") == ["models/onnx-custom-domain"]


def test_tf_savedmodel(tmp_path: Path, scan: Scan) -> None:
    for name, ops, fops in [
        ("clean", ["Placeholder", "MatMul", "SaveV2", "RestoreV2"], []),
        ("py", ["Placeholder"], ["EagerPyFunc"]),
        ("file", ["ReadFile", "WriteFile"], []),
    ]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "saved_model.pb").write_bytes(b.saved_model(ops, fops))
    report = scan(tmp_path)
    assert {s.kind for s in report.scanned} == {"tf-savedmodel"}
    assert only(report, "clean/saved_model.pb") == []
    assert only(report, "py/saved_model.pb") == ["models/tf-python-op"]
    assert only(report, "file/saved_model.pb") == ["models/tf-file-op", "models/tf-file-op"]


def _keras_config(layers: list[dict]) -> dict:  # type: ignore[type-arg]
    return {"class_name": "Sequential", "module": "keras", "config": {"layers": layers}}


LAMBDA = {
    "class_name": "Lambda",
    "module": "keras.layers",
    "config": {"name": "sneaky", "function": {"class_name": "__lambda__"}},
}
DENSE = {"class_name": "Dense", "module": "keras.layers", "config": {"name": "d"}}
CUSTOM = {
    "class_name": "Evil",
    "module": "attacker.layers",
    "registered_name": "attacker>Evil",
    "config": {"name": "e"},
}


def test_keras_v3_zip(tmp_path: Path, scan: Scan) -> None:
    for name, layers in [("clean", [DENSE]), ("lambda", [DENSE, LAMBDA]), ("custom", [CUSTOM])]:
        members = {
            "metadata.json": b"{}",
            "config.json": json.dumps(_keras_config(layers)).encode(),
            "model.weights.h5": b"",
        }
        (tmp_path / f"{name}.keras").write_bytes(b.zip_bytes(members))
    report = scan(tmp_path)
    assert {s.kind for s in report.scanned} == {"keras-v3"}
    assert only(report, "clean.keras") == []
    assert only(report, "lambda.keras") == ["models/keras-lambda"]
    assert only(report, "custom.keras") == ["models/keras-custom-object"]


def test_keras_h5_lambda(tmp_path: Path, scan: Scan) -> None:
    h5py = pytest.importorskip("h5py")
    for name, layers in [("clean", [DENSE]), ("lambda", [LAMBDA])]:
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f.attrs["model_config"] = json.dumps(_keras_config(layers))
            f.create_dataset("w", data=[1.0, 2.0])
    report = scan(tmp_path)
    assert {s.kind for s in report.scanned} == {"keras-h5"}
    assert only(report, "clean.h5") == []
    assert only(report, "lambda.h5") == ["models/keras-lambda"]


def test_tf_companions_and_tokenizers(tmp_path: Path, scan: Scan) -> None:
    """Files that live beside models are recognized, not reported as unknown model files."""
    sm = tmp_path / "sm"
    sm.mkdir()
    (sm / "saved_model.pb").write_bytes(b.saved_model(["MatMul"]))
    (sm / "fingerprint.pb").write_bytes(b.pb_int(1, 123) + b.pb_int(2, 456))
    lam = json.dumps({"class_name": "Lambda", "config": {"name": "lam"}}).encode()
    (sm / "keras_metadata.pb").write_bytes(b.pb_len(1, b.pb_int(1, 3) + b.pb_len(4, lam)))
    (tmp_path / "frozen.pb").write_bytes(b.pb_len(1, b.pb_len(1, b"n") + b.pb_len(2, b"PyFunc")))
    (tmp_path / "tokenizer.model").write_bytes(b.pb_len(1, b.pb_len(1, b"<s>")) + b.pb_len(2, b""))
    report = scan(tmp_path)
    kinds = {Path(s.path).name: s.kind for s in report.scanned}
    assert kinds == {
        "saved_model.pb": "tf-savedmodel",
        "fingerprint.pb": "tf-fingerprint",
        "keras_metadata.pb": "keras-metadata",
        "frozen.pb": "tf-graphdef",
        "tokenizer.model": "sentencepiece",
    }
    assert only(report, "keras_metadata.pb") == ["models/keras-lambda"]
    assert only(report, "frozen.pb") == ["models/tf-python-op"]
    assert only(report, "tokenizer.model") == []
