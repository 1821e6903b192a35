"""Protobuf model formats: ONNX (``onnx/onnx.proto``: ``ModelProto``) and TensorFlow
``saved_model.pb`` (``tensorflow/core/protobuf/saved_model.proto``, ``meta_graph.proto``,
``graph.proto``, ``function.proto``).

ONNX: external-data ``location`` entries that are absolute or leave the model folder (path
traversal on load), and operators from domains outside the standard and ONNX Runtime ones
(custom ops ship native code). SavedModel: graph and function-library nodes whose op calls
into Python (``PyFunc``) or touches files and processes. Large payloads (raw tensor data) are
skipped by the streaming reader, never loaded.
"""

from __future__ import annotations

import posixpath
import re
from typing import IO

from mlstix.scan.models._context import Context, Source
from mlstix.scan.models.formats.pbwire import PbError, fields, read_bytes, strings

__all__ = ["analyze_onnx", "analyze_savedmodel"]

_STANDARD_DOMAINS = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
     "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc"}
)  # fmt: skip
_PY_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
_FILE_OPS = frozenset(
    {"ReadFile", "WriteFile", "MatchingFiles", "WholeFileReader", "WholeFileReaderV2",
     "FileSystemSetConfiguration", "ImmutableConst", "LoadLibrary", "Exec", "SystemCall"}
)  # fmt: skip
_MAX_NODES = 5_000_000


def _escapes(location: str) -> bool:
    loc = location.replace("\\", "/")
    if loc.startswith("/") or re.match(r"^[A-Za-z]:", loc) or "\x00" in loc:
        return True
    norm = posixpath.normpath(loc)
    return norm == ".." or norm.startswith("../")


class _Onnx:
    def __init__(self, src: Source, ctx: Context) -> None:
        self.src, self.ctx, self.fp = src, ctx, src.fp
        self.domains: set[str] = set()
        self.seen_custom: set[tuple[str, str]] = set()
        self.nodes = 0

    def model(self) -> None:
        for number, wire, off, length in fields(self.fp, 0, self.src.size):
            if wire != 2:
                continue
            if number == 7:
                self.graph(off, off + length, 0)
            elif number == 8:  # opset_import: OperatorSetIdProto.domain = 1
                self.domains.update(strings(self.fp, off, off + length, 1))
            elif number == 25:  # functions: FunctionProto.node = 7
                for n, w, o, ln in fields(self.fp, off, off + length):
                    if n == 7 and w == 2:
                        self.node(o, o + ln, 1)

    def graph(self, start: int, end: int, depth: int) -> None:
        if depth > 32:
            raise PbError("subgraphs nested too deeply")
        for number, wire, off, length in fields(self.fp, start, end):
            if wire != 2:
                continue
            if number == 1:
                self.node(off, off + length, depth)
            elif number in (5, 15):  # initializer, sparse_initializer (values)
                self.tensor(off, off + length)

    def tensor(self, start: int, end: int) -> None:
        for number, wire, off, length in fields(self.fp, start, end):
            if number == 13 and wire == 2:  # external_data: StringStringEntryProto
                entry = {}
                for n, w, o, ln in fields(self.fp, off, off + length):
                    if w == 2 and n in (1, 2):
                        entry[n] = read_bytes(self.fp, o, ln).decode("utf-8", "replace")
                if entry.get(1) == "location" and _escapes(entry.get(2, "")):
                    self.ctx.hit(
                        "models/onnx-external-data-escape",
                        f"tensor data is read from {entry.get(2)!r}, outside the model folder",
                        self.src,
                        location=entry.get(2),
                    )

    def node(self, start: int, end: int, depth: int) -> None:
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise PbError("too many nodes")
        op_type, domain = "", ""
        for number, wire, off, length in fields(self.fp, start, end):
            if wire != 2:
                continue
            if number == 4:
                op_type = read_bytes(self.fp, off, length).decode("utf-8", "replace")
            elif number == 7:
                domain = read_bytes(self.fp, off, length).decode("utf-8", "replace")
            elif number == 5:  # attribute: AttributeProto.g = 6, graphs = 11, t = 5
                for n, w, o, ln in fields(self.fp, off, off + length):
                    if w == 2 and n in (6, 11):
                        self.graph(o, o + ln, depth + 1)
                    elif w == 2 and n == 5:
                        self.tensor(o, o + ln)
        if domain not in _STANDARD_DOMAINS and (domain, op_type) not in self.seen_custom:
            self.seen_custom.add((domain, op_type))
            self.ctx.hit(
                "models/onnx-custom-domain",
                f"operator {op_type!r} from custom domain {domain!r} needs a native library",
                self.src,
                domain=domain,
                op_type=op_type,
            )


def analyze_onnx(src: Source, ctx: Context) -> str:
    walker = _Onnx(src, ctx)
    try:
        walker.model()
    except PbError as exc:
        ctx.hit("models/unrecognized-model-file", f"ONNX model cannot be parsed: {exc}", src)
    return "onnx"


def _tf_nodes(fp: IO[bytes], start: int, end: int, number: int) -> list[str]:
    """Op names of the NodeDefs in field ``number`` of the message ``[start, end)``."""
    ops = []
    for n, w, off, length in fields(fp, start, end):
        if n == number and w == 2:
            ops.extend(strings(fp, off, off + length, 2))  # NodeDef.op = 2
    return ops


def _graph_ops(fp: IO[bytes], start: int, end: int) -> list[str]:
    """Ops of a GraphDef: its nodes and the nodes of its function library."""
    ops = _tf_nodes(fp, start, end, 1)  # GraphDef.node = 1
    for n, w, off, length in fields(fp, start, end):
        if n == 2 and w == 2:  # library: FunctionDefLibrary.function = 1
            for n2, w2, o2, l2 in fields(fp, off, off + length):
                if n2 == 1 and w2 == 2:
                    ops += _tf_nodes(fp, o2, o2 + l2, 3)  # FunctionDef.node_def = 3
    return ops


def _report_ops(src: Source, ctx: Context, ops: list[str]) -> None:
    for op in sorted(set(ops)):
        if op in _PY_OPS:
            ctx.hit("models/tf-python-op", f"graph uses {op}, which calls Python code", src,
                    op=op)  # fmt: skip
        elif op in _FILE_OPS:
            ctx.hit("models/tf-file-op", f"graph uses {op}, which touches files or processes",
                    src, op=op)  # fmt: skip


def analyze_savedmodel(src: Source, ctx: Context) -> str:
    fp = src.fp
    ops: list[str] = []
    try:
        for n, w, off, length in fields(fp, 0, src.size):
            if n != 2 or w != 2:  # meta_graphs
                continue
            for n2, w2, o2, l2 in fields(fp, off, off + length):
                if n2 == 2 and w2 == 2:  # graph_def
                    ops += _graph_ops(fp, o2, o2 + l2)
    except PbError as exc:
        ctx.hit("models/unrecognized-model-file", f"SavedModel cannot be parsed: {exc}", src)
    _report_ops(src, ctx, ops)
    return "tf-savedmodel"


def analyze_graphdef(src: Source, ctx: Context) -> str:
    """A frozen TensorFlow GraphDef (``.pb``)."""
    try:
        _report_ops(src, ctx, _graph_ops(src.fp, 0, src.size))
    except PbError as exc:
        ctx.hit("models/unrecognized-model-file", f"GraphDef cannot be parsed: {exc}", src)
    return "tf-graphdef"


def analyze_keras_metadata(src: Source, ctx: Context) -> str:
    """``keras_metadata.pb`` of a Keras SavedModel: SavedMetadata.nodes[].metadata holds each
    layer's Keras config as JSON (Lambda layers included)."""
    import json

    from mlstix.scan.models.formats.keras import check_config

    try:
        for n, w, off, length in fields(src.fp, 0, src.size):
            if n != 1 or w != 2:
                continue
            for text in strings(src.fp, off, off + length, 4):  # SavedObject.metadata
                try:
                    check_config(json.loads(text), src, ctx, "keras_metadata.pb")
                except json.JSONDecodeError:
                    continue
    except PbError as exc:
        ctx.hit("models/unrecognized-model-file", f"keras_metadata.pb cannot be parsed: {exc}",
                src)  # fmt: skip
    return "keras-metadata"


def analyze_inert(src: Source, ctx: Context) -> str:
    """Formats recognized and holding no code (SavedModel fingerprint, SentencePiece)."""
    del ctx
    return "tf-fingerprint" if src.name == "fingerprint.pb" else "sentencepiece"
