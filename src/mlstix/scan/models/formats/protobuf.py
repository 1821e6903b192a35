"""Protobuf model formats: ONNX (``onnx/onnx.proto``: ``ModelProto``) and TensorFlow
``saved_model.pb`` (``tensorflow/core/protobuf/saved_model.proto``, ``meta_graph.proto``,
``graph.proto``, ``function.proto``).

ONNX: external-data ``location`` entries that are absolute or leave the model folder (path
traversal on load) wherever a TensorProto sits (initializers, sparse initializers, node
attributes, subgraphs, functions, training info: every nested message is searched), and
operators from domains outside the standard and ONNX Runtime ones (custom ops ship native
code). SavedModel and GraphDef: ops that call into Python (``PyFunc``, ``EagerPyFunc``) or
touch files (``ReadFile``, ``WriteFile``, ``MatchingFiles``, ``InitializeTableFromTextFile``,
``PrintV2`` to a ``file://`` stream, ...), found in every nested message, graph, function
library or field this reader has no schema for. Large payloads (raw tensor data) are skipped by
the streaming reader, never loaded.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import IO

from mlstix.scan.models._context import Context, Source
from mlstix.scan.models.formats.pbwire import PbError, TooLarge, fields, read_bytes, strings, walk

__all__ = ["analyze_onnx", "analyze_savedmodel", "ops_in", "report_ops"]

_STANDARD_DOMAINS = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
     "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc"}
)  # fmt: skip
_PY_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
_FILE_OPS = frozenset(
    {"ReadFile", "WriteFile", "MatchingFiles", "WholeFileReader", "WholeFileReaderV2",
     "FileSystemSetConfiguration", "ImmutableConst", "InitializeTableFromTextFile",
     "InitializeTableFromTextFileV2", "TextLineReader", "TextLineReaderV2",
     "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "TFRecordReader",
     "TFRecordReaderV2", "CreateSummaryFileWriter", "DebugIdentity", "DebugNanCount",
     "DebugNumericSummary", "DebugIdentityV2", "DebugIdentityV3",
     # tf.data readers and writers of files named by their inputs, summary databases, and
     # checkpoint readers outside the saver (tensorflow/core/ops/*dataset_ops.cc,
     # summary_ops.cc, checkpoint_ops.cc)
     "TextLineDataset", "TFRecordDataset", "TFRecordDatasetV2", "FixedLengthRecordDataset",
     "FixedLengthRecordDatasetV2", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset",
     "LMDBDataset", "ExperimentalLMDBDataset", "SqlDataset", "ExperimentalSqlDataset",
     "LoadDataset", "SaveDataset", "SaveDatasetV2", "SnapshotDataset", "SnapshotDatasetV2",
     "DistributedSave", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord",
     "CreateSummaryDbWriter", "LoadAndRemapMatrix",
     # the network: TF's RPC ops (a graph that serves or calls), remote function calls, and
     # tf.data service clients (rpc_ops.cc, functional_ops.cc, data_service_ops.cc)
     "RpcServer", "RpcServerStart", "RpcServerRegister", "RpcClient", "RpcCall", "Rpc",
     "TryRpc", "RemoteCall", "DataServiceDataset", "DataServiceDatasetV2",
     "DataServiceDatasetV3", "DataServiceDatasetV4", "RegisterDataset", "RegisterDatasetV2"}
)  # fmt: skip
_PRINT_OPS = frozenset({"PrintV2"})  # a file only when output_stream is "file://..."
_ALL_OPS = _PY_OPS | _FILE_OPS | _PRINT_OPS
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
        if domain not in _STANDARD_DOMAINS and (domain, op_type) not in self.seen_custom:
            self.seen_custom.add((domain, op_type))
            self.ctx.hit(
                "models/onnx-custom-domain",
                f"operator {op_type!r} from custom domain {domain!r} needs a native library",
                self.src,
                domain=domain,
                op_type=op_type,
            )


def _external_locations(fp: IO[bytes], size: int) -> Iterator[str]:
    """``location`` values of every ``StringStringEntryProto`` (``key`` 1, ``value`` 2) in any
    nested message: wherever a TensorProto sits, its external_data entries are found."""
    for _, found in walk(fp, 0, size):
        if len(found) != 2 or [(n, w) for n, w, _, _ in found] != [(1, 2), (2, 2)]:
            continue
        (_, _, koff, klen), (_, _, voff, vlen) = found
        if klen == 8 and read_bytes(fp, koff, klen) == b"location":
            yield read_bytes(fp, voff, vlen).decode("utf-8", "replace")


def analyze_onnx(src: Source, ctx: Context) -> str:
    walker = _Onnx(src, ctx)
    try:
        walker.model()
        for location in dict.fromkeys(_external_locations(src.fp, src.size)):
            if _escapes(location):
                ctx.hit(
                    "models/onnx-external-data-escape",
                    f"tensor data is read from {location!r}, outside the model folder",
                    src,
                    location=location,
                )
    except (PbError, TooLarge) as exc:
        ctx.malformed("models/unrecognized-model-file", f"ONNX model cannot be parsed: {exc}", src)
    return "onnx"


def _strings_anywhere(fp: IO[bytes], size: int) -> Iterator[tuple[int, str]]:
    """``(field number, text)`` of every short string field in every nested message."""
    for _, found in walk(fp, 0, size):
        for number, wire, off, length in found:
            if wire == 2 and 0 < length <= 256:
                yield number, read_bytes(fp, off, length).decode("utf-8", "replace")


def _tf_ops(fp: IO[bytes], size: int) -> set[str]:
    """Dangerous op names anywhere in the message (NodeDef.op of graph nodes, function-library
    nodes, or messages this reader has no schema for)."""
    return ops_in(text for _, text in _strings_anywhere(fp, size))


def ops_in(texts: Iterable[str]) -> set[str]:
    """The dangerous op names among a graph's strings (``PrintV2`` only beside a ``file://``
    output stream)."""
    found: set[str] = set()
    to_file = False
    for text in texts:
        if text in _ALL_OPS:
            found.add(text)
        elif text.startswith("file://"):
            to_file = True
    if not to_file:
        found -= _PRINT_OPS
    return found


def report_ops(src: Source, ctx: Context, ops: set[str]) -> None:
    for op in sorted(ops):
        if op in _PY_OPS:
            ctx.hit("models/tf-python-op", f"graph uses {op}, which calls Python code", src,
                    op=op)  # fmt: skip
        elif op in _PRINT_OPS:
            ctx.hit("models/tf-file-op", f"graph uses {op} with a file:// output stream, "
                    "which writes files", src, op=op)  # fmt: skip
        else:
            ctx.hit("models/tf-file-op", f"graph uses {op}, which touches files, the network "
                    "or processes", src, op=op)  # fmt: skip


def _analyze_tf(src: Source, ctx: Context, kind: str, label: str) -> str:
    try:
        report_ops(src, ctx, _tf_ops(src.fp, src.size))
    except (PbError, TooLarge) as exc:
        ctx.malformed("models/unrecognized-model-file", f"{label} cannot be parsed: {exc}", src)
    return kind


def analyze_savedmodel(src: Source, ctx: Context) -> str:
    return _analyze_tf(src, ctx, "tf-savedmodel", "SavedModel")


def analyze_graphdef(src: Source, ctx: Context) -> str:
    """A frozen TensorFlow GraphDef (``.pb``)."""
    return _analyze_tf(src, ctx, "tf-graphdef", "GraphDef")


def analyze_keras_metadata(src: Source, ctx: Context) -> str:
    """``keras_metadata.pb`` of a Keras SavedModel: SavedMetadata.nodes[].metadata holds each
    layer's Keras config as JSON (Lambda layers included)."""
    from mlstix.scan.models.formats.keras import check_config, load_json

    try:
        for n, w, off, length in fields(src.fp, 0, src.size):
            if n != 1 or w != 2:
                continue
            for text in strings(src.fp, off, off + length, 4):  # SavedObject.metadata
                config = load_json(text, src, ctx, "keras_metadata.pb")
                if config is not None:
                    check_config(config, src, ctx, "keras_metadata.pb")
    except PbError as exc:
        ctx.malformed("models/unrecognized-model-file",
                      f"keras_metadata.pb cannot be parsed: {exc}", src)  # fmt: skip
    return "keras-metadata"


def analyze_inert(src: Source, ctx: Context) -> str:
    """Formats recognized and holding no code (SavedModel fingerprint, SentencePiece)."""
    del ctx
    return "tf-fingerprint" if src.name == "fingerprint.pb" else "sentencepiece"
