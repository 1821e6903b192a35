"""Class 4, TensorFlow graphs the loaders read that were not read at all: text-format
``saved_model.pbtxt`` (``tf.saved_model.load`` reads it when there is no ``.pb``),
``graph.pbtxt`` (``tf.io.write_graph``'s default), and TF1 ``.meta`` MetaGraphDefs, binary or
text (``import_meta_graph``). A ``PyFunc`` or ``WriteFile`` in any of them was clean. Op
names spelled with text-format escapes or split into adjacent literals are read as
``google.protobuf.text_format`` reads them (compared on the same bytes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstix.scan.models.formats._tftext import text_strings

from . import builders as b
from .conftest import Scan, rules

_TEXTS = {
    "saved_model.pbtxt": b'saved_model_schema_version: 1\nmeta_graphs {\n  graph_def {\n'
    b'    node { name: "p" op: "PyFunc" }\n  }\n}\n',
    "graph.pbtxt": b'node {\n  name: "p"  # a comment with a "quote\n  op: "Py" \'Func\'\n}\n'
    b'node { name: "w" op: "\\127rite\\x46ile" }\n',
    "model.ckpt-100.meta": b'meta_info_def { tags: "serve" }\n'
    b'graph_def { node { name: "r" op: "ReadFile" } }\n',
}  # fmt: skip


def _metagraph(ops: list[str]) -> bytes:
    """A binary MetaGraphDef: meta_info_def (1), graph_def (2), saver_def (3)."""
    graph = b"".join(b.pb_len(1, b.pb_len(1, f"n{i}".encode()) + b.pb_len(2, op.encode()))
                     for i, op in enumerate(ops))  # fmt: skip
    return b.pb_len(1, b.pb_len(1, b"serve")) + b.pb_len(2, graph) + b.pb_len(3, b.pb_len(1, b"s"))


@pytest.mark.parametrize("name", list(_TEXTS))
def test_text_format_graphs_are_read(name: str, tmp_path: Path, scan: Scan) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / name).write_bytes(_TEXTS[name])
    found = rules(scan(folder))
    assert "models/tf-python-op" in found or "models/tf-file-op" in found, found


def test_a_binary_metagraph_is_read(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "model.ckpt.meta").write_bytes(_metagraph(["Const", "PyFunc", "WriteFile"]))
    found = rules(scan(tmp_path))
    assert {"models/tf-python-op", "models/tf-file-op"} <= set(found)


def test_a_benign_text_graph_stays_clean(tmp_path: Path, scan: Scan) -> None:
    (tmp_path / "graph.pbtxt").write_bytes(
        b'node {\n  name: "x"\n  op: "Const"\n  attr { key: "dtype" value { type: DT_FLOAT } }\n'
        b'}\nnode { name: "y" op: "Identity" input: "x" }\nversions { producer: 27 }\n'
    )  # fmt: skip
    report = scan(tmp_path)
    assert not {"models/tf-python-op", "models/tf-file-op"} & set(rules(report))
    assert not report.errors


def _graphdef_class() -> type:
    """GraphDef { repeated NodeDef node = 1; } NodeDef { string name = 1; string op = 2; }"""
    from google.protobuf import (  # type: ignore[import-untyped]
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    fdp = descriptor_pb2.FileDescriptorProto(name="mlstix_test_graph.proto", package="t")
    node = fdp.message_type.add(name="NodeDef")
    for number, field in ((1, "name"), (2, "op")):
        node.field.add(name=field, number=number, type=9, label=1)  # string, optional
    graph = fdp.message_type.add(name="GraphDef")
    graph.field.add(name="node", number=1, type=11, label=3, type_name=".t.NodeDef")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    cls: type = message_factory.GetMessageClass(pool.FindMessageTypeByName("t.GraphDef"))
    return cls


@pytest.mark.parametrize(
    "text",
    [
        b"node { op: \"Py\" 'Func' }",
        b'node { op: "\\127rite\\x46ile" name: "a\\"b" }',
        b"node { op: 'Eager' \"Py\" 'Func' }  # \"x\" 'y'\nnode { op: \"\\\\\\101\" }",
        b'node { name: "caf\\303\\251" op: "Read" # split by a comment\n "File" }',
    ],
)
def test_text_strings_read_what_protobufs_text_parser_reads(text: bytes) -> None:
    text_format = pytest.importorskip("google.protobuf.text_format")
    msg = _graphdef_class()()
    text_format.Parse(text.decode(), msg)
    real = {v for n in msg.node for v in (n.op, n.name) if v}
    assert real <= set(text_strings(text))
