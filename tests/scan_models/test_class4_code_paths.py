"""Class 4 of issue 10: code paths outside pickle. Keras configs (Lambda anywhere, references
that import code, file-fetching gadgets), TensorFlow ops that touch files or run Python
wherever a graph can hold them, ONNX external data wherever a TensorProto can sit, GGUF chat
templates that build dangerous names at run time, and Python shipped inside model archives."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from mlstix.findings.model import Report

from . import builders as b
from .conftest import Scan

LAMBDA = {
    "module": "keras.layers",
    "class_name": "Lambda",
    "config": {"name": "sneaky", "function": {"class_name": "__lambda__", "config": {}}},
}


def found(report: Report, rule: str) -> list[dict[str, Any]]:
    return [dict(f.evidence) for f in report.findings if f.rule_id == rule]


def _keras(tmp_path: Path, scan: Scan, config: dict[str, Any], **extra: bytes) -> Report:
    members = {"config.json": json.dumps(config).encode(), **extra}
    (tmp_path / "m.keras").write_bytes(b.zip_bytes(members))
    return scan(tmp_path / "m.keras")


def _nest(inner: dict[str, Any], depth: int) -> dict[str, Any]:
    node = inner
    for i in range(depth):
        node = {
            "module": "keras",
            "class_name": "Functional",
            "config": {"name": f"m{i}", "layers": [node]},
        }
    return node


def test_lambda_as_an_activation(tmp_path: Path, scan: Scan) -> None:
    dense = {"module": "keras.layers", "class_name": "Dense",
             "config": {"name": "d", "activation": LAMBDA}}  # fmt: skip
    report = _keras(tmp_path, scan, _nest(dense, 1))  # config.json alone is enough for Keras
    assert report.scanned[0].kind == "keras-v3"
    assert [e["layer"] for e in found(report, "models/keras-lambda")] == ["sneaky"]


def test_lambda_nested_hundreds_of_models_deep(tmp_path: Path, scan: Scan) -> None:
    """750 JSON levels: Keras' own json.loads still parses it, so the walk must reach it."""
    report = _keras(tmp_path, scan, _nest(LAMBDA, 250), **{"metadata.json": b"{}"})
    assert [e["layer"] for e in found(report, "models/keras-lambda")] == ["sneaky"]
    assert not report.errors


def test_cve_2025_1550_reference_to_a_dangerous_callable(tmp_path: Path, scan: Scan) -> None:
    layer = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d",
             "activation": {"module": "os", "class_name": "function", "config": "system",
                            "registered_name": "function"}}}  # fmt: skip
    report = _keras(tmp_path, scan, _nest(layer, 1))
    assert [
        (e["module"], e["name"]) for e in found(report, "models/keras-dangerous-reference")
    ] == [("os", "system")]


def test_cve_2025_8747_get_file_gadget(tmp_path: Path, scan: Scan) -> None:
    gadget = {"module": "keras.utils", "class_name": "function", "config": "get_file",
              "registered_name": "function"}  # fmt: skip
    report = _keras(tmp_path, scan, _nest(gadget, 2))
    assert [e["cve"] for e in found(report, "models/keras-file-reference")] == ["CVE-2025-8747"]


def test_cve_2025_12058_vocabulary_from_a_path(tmp_path: Path, scan: Scan) -> None:
    lookup = {"module": "keras.layers", "class_name": "StringLookup",
              "config": {"name": "s", "vocabulary": "/etc/passwd"}}  # fmt: skip
    inline = {"module": "keras.layers", "class_name": "StringLookup",
              "config": {"name": "t", "vocabulary": ["a", "b"]}}  # fmt: skip
    report = _keras(tmp_path, scan, _nest({"class_name": "X", "config": [lookup, inline]}, 1))
    assert [e["path"] for e in found(report, "models/keras-file-reference")] == ["/etc/passwd"]


def test_keras_h5_user_block_and_nested_lambda(tmp_path: Path, scan: Scan) -> None:
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "m.h5"
    with h5py.File(path, "w", userblock_size=1024) as f:
        f.attrs["model_config"] = json.dumps(_nest(LAMBDA, 30))
    report = scan(path)
    assert report.scanned[0].kind == "keras-h5"
    assert [e["layer"] for e in found(report, "models/keras-lambda")] == ["sneaky"]


# -- TensorFlow ---------------------------------------------------------------------------------


def _node(op: str, attrs: dict[str, str] | None = None) -> bytes:
    node = b.pb_len(1, b"n") + b.pb_len(2, op.encode())
    for key, value in (attrs or {}).items():
        node += b.pb_len(5, b.pb_len(1, key.encode()) + b.pb_len(2, b.pb_len(2, value.encode())))
    return node


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        (b.pb_len(1, _node("WriteFile")), ["WriteFile"]),
        # a function library node
        (b.pb_len(2, b.pb_len(1, b.pb_len(3, _node("EagerPyFunc")))), ["EagerPyFunc"]),
        # a field number no schema of ours knows, holding a node
        (b.pb_len(1, _node("Const")) + b.pb_len(99, _node("MatchingFiles")), ["MatchingFiles"]),
        (b.pb_len(1, _node("InitializeTableFromTextFileV2")), ["InitializeTableFromTextFileV2"]),
        (b.pb_len(1, _node("PrintV2", {"output_stream": "file:///tmp/x"})), ["PrintV2"]),
        (b.pb_len(1, _node("PrintV2", {"output_stream": "stderr"})), []),
        (b.pb_len(1, _node("TFRecordDatasetV2")), ["TFRecordDatasetV2"]),
        (b.pb_len(1, _node("SaveDatasetV2")), ["SaveDatasetV2"]),
        (b.pb_len(1, _node("RpcServerStart")), ["RpcServerStart"]),
        (b.pb_len(1, _node("DataServiceDatasetV4")), ["DataServiceDatasetV4"]),
    ],
    ids=[
        "write",
        "function-library",
        "unknown-field",
        "table-from-file",
        "print-file",
        "print",
        "dataset-reads",
        "dataset-writes",
        "rpc-server",
        "data-service",
    ],
)
def test_tf_ops_wherever_a_graph_holds_them(
    tmp_path: Path, scan: Scan, graph: bytes, expected: list[str]
) -> None:
    saved = b.pb_int(1, 1) + b.pb_len(2, b.pb_len(2, graph))
    (tmp_path / "saved_model.pb").write_bytes(saved)
    report = scan(tmp_path / "saved_model.pb")
    ops = [f.evidence["op"] for f in report.findings if f.rule_id.startswith("models/tf-")]
    assert ops == expected
    assert not report.errors


# -- ONNX ---------------------------------------------------------------------------------------


def _tensor(location: str) -> bytes:
    entry = b.pb_len(1, b"location") + b.pb_len(2, location.encode())
    return b.pb_len(8, b"w") + b.pb_len(13, entry) + b.pb_int(14, 1)


def _model(graph: bytes, extra: bytes = b"") -> bytes:
    return b.pb_int(1, 8) + b.pb_len(7, graph) + b.pb_len(8, b.pb_int(2, 17)) + extra


@pytest.mark.parametrize(
    "model",
    [
        _model(b.pb_len(15, b.pb_len(1, _tensor("../../etc/shadow")))),  # sparse values
        _model(b.pb_len(1, b.pb_len(4, b"Const") + b.pb_len(5, b.pb_len(5, _tensor("/etc/x"))))),
        _model(  # a tensor attribute inside a subgraph of an If node
            b.pb_len(
                1,
                b.pb_len(4, b"If")
                + b.pb_len(
                    5,
                    b.pb_len(
                        6,
                        b.pb_len(
                            1, b.pb_len(4, b"Const") + b.pb_len(5, b.pb_len(10, _tensor("C:/w")))
                        ),
                    ),
                ),
            )
        ),
        _model(b"", b.pb_len(20, b.pb_len(1, b.pb_len(5, _tensor("/dev/zero"))))),  # training
    ],
    ids=["sparse-initializer", "attribute", "subgraph-attribute-list", "training-info"],
)
def test_onnx_external_data_wherever_a_tensor_sits(
    tmp_path: Path, scan: Scan, model: bytes
) -> None:
    (tmp_path / "m.onnx").write_bytes(model)
    report = scan(tmp_path / "m.onnx")
    assert len(found(report, "models/onnx-external-data-escape")) == 1
    assert not report.errors


# -- GGUF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''['__cla' ~ 'ss__'] }}",
        "{% set n = ['_','_','glo','bals','_','_']|join %}{{ cycler.__init__|attr(n) }}",
        "{{ x|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
        "{{ self._TemplateReference__context }}",
        "benign\0{{ ''.__class__.__mro__ }}",
        "{{ x[('XXclassXX'|replace('X','_'))] }}",
        "{{ x[('__ssalc__'|reverse)] }}",
        "{{ x[('__CLASS__'|lower)] }}",
        "{% set a = 'cla' %}{{ x['__' ~ a ~ 'ss__'] }}",
        # names folded with Jinja's parser: no literal, no pattern spells them
        "{{ ()[('_'*2)+'class'+('_'*2)] }}",
        "{{ ()['%s%sclass%s%s'|format('_','_','_','_')] }}",
        "{% set u = dict(_=1)|list|first %}{% set n = u*2 ~ dict(class=1)|list|first ~ u*2 %}"
        "{{ ()[n] }}",
        "{% set n = 'x'|replace('x', '_')*2 %}{{ ()|attr(n ~ 'cl' ~ 'ass' ~ n) }}",
        "{{ ()[('ssalc'|reverse)|format] }}{{ ()[request.args.name ~ ''] }}",
        "{{ ()[bos_token][eos_token] }}",  # token texts come from the model's own vocabulary
    ],
    ids=[
        "concat",
        "join-attr",
        "escapes",
        "self",
        "after-nul",
        "replace",
        "reverse",
        "lower",
        "variable",
        "repeat",
        "format",
        "dict-keys",
        "set-attr",
        "computed",
        "token-text",
    ],
)
def test_gguf_template_names_built_at_run_time(tmp_path: Path, scan: Scan, template: str) -> None:
    (tmp_path / "m.gguf").write_bytes(b.gguf({"tokenizer.chat_template": template}))
    assert found(scan(tmp_path / "m.gguf"), "models/gguf-template-injection")


CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)


TOOLS = (
    "{%- set ns = namespace(system='') %}{%- for m in messages %}"
    "{%- if m['role'] == 'system' %}{%- set ns.system = m['content'] %}{%- endif %}{%- endfor %}"
    "{%- set roles = {'user': '<u>', 'assistant': '<a>'} %}{{ ns.system }}"
    "{%- for m in messages[1:] if m.role != 'system' %}{% set key = m['role'] %}"
    "{{ roles[key] ~ m.content }}{%- for call in m.tool_calls or [] %}"
    "{{ call.function.name ~ (call.function.arguments | tojson) }}{%- endfor %}"
    "{%- if loop.last and messages[loop.index0 - 1]['role'] == 'user' %}!{% endif %}"
    "{%- endfor %}"
)


@pytest.mark.parametrize("template", [CHATML, LLAMA3, TOOLS], ids=["chatml", "llama3", "tools"])
def test_ordinary_chat_templates_are_clean(tmp_path: Path, scan: Scan, template: str) -> None:
    (tmp_path / "m.gguf").write_bytes(b.gguf({"tokenizer.chat_template": template}))
    assert not found(scan(tmp_path / "m.gguf"), "models/gguf-template-injection")


def test_gguf_string_length_past_the_end_is_an_error(tmp_path: Path, scan: Scan) -> None:
    data = b.gguf({"tokenizer.chat_template": "{{ x }}"})
    (tmp_path / "m.gguf").write_bytes(data[:-3])
    report = scan(tmp_path / "m.gguf")
    assert report.errors and "GGUF metadata cannot be read" in report.errors[0].message


@pytest.mark.parametrize("count", [1 << 40, 3])
def test_gguf_array_or_skipped_string_past_the_end_is_an_error(
    tmp_path: Path, scan: Scan, count: int
) -> None:
    """An array of 2**40 numbers (or a string that is not kept) in a 50-byte file: skipped by
    seeking, it was never checked against the end; llama.cpp's reader fails there."""
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 3) + b"abc"
    if count == 3:
        data += struct.pack("<I", 8) + struct.pack("<Q", 1 << 20)  # a 1 MiB string, absent
    else:
        data += struct.pack("<I", 9) + struct.pack("<IQ", 4, count)
    (tmp_path / "m.gguf").write_bytes(data)
    report = scan(tmp_path / "m.gguf")
    assert report.errors and "GGUF metadata cannot be read" in report.errors[0].message


# -- Python shipped in archives -----------------------------------------------------------------


def test_torch_package_ships_python(tmp_path: Path, scan: Scan) -> None:
    data = b.zip_bytes({
        "pkg/.data/version": b"6\n",
        "pkg/.data/extern_modules": b"torch\n",
        "pkg/mymodel/model.py": b"import os\nos.system('id')\n",
        "pkg/mymodel/model.pkl": b.torch_state_pickle(),
    })  # fmt: skip
    (tmp_path / "m.pt").write_bytes(data)
    report = scan(tmp_path / "m.pt")
    assert report.scanned[0].kind == "torch-package"
    assert [e["archive_member"] for e in found(report, "models/shipped-python-code")] == [
        "pkg/mymodel/model.py"
    ]


def test_torchserve_handler(tmp_path: Path, scan: Scan) -> None:
    data = b.zip_bytes({"MAR-INF/MANIFEST.json": b"{}", "handler.py": b"print(1)\n"})
    (tmp_path / "m.mar").write_bytes(data)
    report = scan(tmp_path / "m.mar")
    assert [e["archive_member"] for e in found(report, "models/shipped-python-code")] == [
        "handler.py"
    ]


def test_a_template_nested_past_any_renderer_is_no_crash(tmp_path: Path, scan: Scan) -> None:
    """3,000 chained filters parse, but no walk (nor Jinja's compiler) follows them: the file
    is read, the pattern search still runs, nothing crashes."""
    template = "{{ x" + "|lower" * 3000 + " }}{{ ''.__class__ }}"
    (tmp_path / "m.gguf").write_bytes(b.gguf({"tokenizer.chat_template": template}))
    report = scan(tmp_path / "m.gguf")
    assert not report.errors
    assert found(report, "models/gguf-template-injection")


def test_hugging_face_auto_map_ships_code(tmp_path: Path, scan: Scan) -> None:
    """An auto_map makes from_pretrained(trust_remote_code=True) import a module shipped
    beside the weights, or one from another Hub repository: code that runs on load."""
    (tmp_path / "config.json").write_text(
        '{"model_type": "x", "auto_map": {"AutoConfig": "configuration_x.XConfig",'
        ' "AutoModel": "someone/other--modeling_x.XModel"}}'
    )
    (tmp_path / "tokenizer_config.json").write_text(
        '{"auto_map": {"AutoTokenizer": ["tokenization_x.XTokenizer", null]}}'
    )
    (tmp_path / "generation_config.json").write_text('{"max_length": 20}')
    report = scan(tmp_path)
    refs = sorted(
        str(f.evidence["reference"])
        for f in report.findings
        if f.rule_id == "models/shipped-python-code"
    )
    assert refs == [
        "configuration_x.XConfig",
        "someone/other--modeling_x.XModel",
        "tokenization_x.XTokenizer",
    ]
    assert not report.errors


def test_a_plain_config_json_is_no_model_and_no_finding(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama", "hidden_size": 8}')
    report = scan(tmp_path)
    assert [s.kind for s in report.scanned] == ["hf-config"]
    assert not [f for f in report.findings if f.rule_id != "models/no-provenance"]


def test_hugging_face_chat_templates_are_judged_like_gguf_ones(tmp_path: Path, scan: Scan) -> None:
    """tokenizer_config.json (a string, or a list of named templates), chat_template.json and
    chat_template.jinja hold the templates transformers renders."""
    evil = "{{ ()[('_'*2)+'class'+('_'*2)] }}"
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"chat_template": [{"name": "default", "template": CHATML},
                                      {"name": "tool_use", "template": evil}]})
    )  # fmt: skip
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": evil}))
    (tmp_path / "chat_template.jinja").write_text(evil)
    report = scan(tmp_path)
    paths = sorted(
        Path(f.location.path).name
        for f in report.findings
        if f.rule_id == "models/gguf-template-injection"
    )
    assert paths == ["chat_template.jinja", "chat_template.json", "tokenizer_config.json"]
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "tokenizer_config.json").write_text(json.dumps({"chat_template": LLAMA3}))
    assert not found(scan(clean), "models/gguf-template-injection")
