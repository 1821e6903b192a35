"""Scanning one input: a :class:`Source` (a seekable byte stream), its format recognized by
content, dispatched to the analyzer registered for that format.

Formats are recognized from their bytes (magic numbers, header structure), never from the file
name alone; the name only breaks ties (``saved_model.pb``) and decides whether an unrecognized
file is worth a finding ("named like a model"). Analyzers are registered explicitly in
:func:`analyzers`; each is a function ``(Source, Context) -> kind`` that adds hits to the
context and may scan nested sources (archive members) through :meth:`Context.scan`, which
enforces the nesting depth and the decompression budget.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable

from mlstix.scan.models._context import Analyzer, Source
from mlstix.scan.models.formats.native import native_kind
from mlstix.scan.models.pickles import looks_like_pickle

__all__ = ["CONTAINERS", "MODEL_SUFFIXES", "analyzers", "sniff", "views"]

MODEL_SUFFIXES = frozenset(
    [
        ".pt",
        ".pth",
        ".bin",
        ".ckpt",
        ".pkl",
        ".pickle",
        ".joblib",
        ".sav",
        ".dill",
        ".h5",
        ".hdf5",
        ".keras",
        ".pb",
        ".onnx",
        ".gguf",
        ".ggml",
        ".safetensors",
        ".npy",
        ".npz",
        ".mar",
        ".model",
        ".tar",
        ".pkl.gz",
        ".joblib.gz",
        ".torchscript",
        ".ptl",
    ]
)


CONTAINERS = frozenset(
    {"zip", "tar", "gzip", "bz2", "xz", "lzma", "lz4", "zstd", "zlib", "joblib-zfile"}
)


def _safetensors(head: bytes, size: int) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= size - 8 and head[8:9] == b"{"


_PB_NAMED = {"keras_metadata.pb": "keras-metadata", "fingerprint.pb": "tf-fingerprint"}


def _protobuf_kind(src: Source, head: bytes) -> str | None:
    """ONNX, SavedModel, frozen GraphDef, Keras SavedModel metadata, SentencePiece: protobuf
    messages without a magic number, told apart by their top-level fields (and, where two
    schemas share field numbers, by the file name)."""
    if not head or head[0] not in (0x08, 0x0A, 0x12):
        return None
    from mlstix.scan.models.formats.pbwire import PbError, fields

    seen: set[int] = set()
    try:
        for count, (number, wire, _, _) in enumerate(fields(src.fp, 0, src.size)):
            seen.add(number * 8 + wire)
            if len(seen) > 40 or count > 100_000:
                break
    except PbError:
        return None
    finally:
        src.fp.seek(0)
    if 7 * 8 + 2 in seen and seen <= {8, 18, 26, 34, 40, 50, 58, 66, 82, 98, 114, 162, 202}:
        return "onnx"
    if 2 * 8 + 2 in seen and seen <= {8, 18}:
        return "tf-savedmodel"
    if src.name in _PB_NAMED:
        return _PB_NAMED[src.name]
    if 10 in seen and seen <= {10, 18, 26, 34, 42} and src.name.endswith(".model"):
        return "sentencepiece"
    if 10 in seen and seen <= {10, 18, 24, 34}:
        return "tf-graphdef"
    if 18 in seen and seen <= {10, 18, 26, 34, 42, 50, 58} and src.name.endswith(".meta"):
        return "tf-graphdef"  # a TF1 MetaGraphDef (model.ckpt.meta: import_meta_graph)
    return None


_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00", "lzma"),  # LZMA "alone" (.lzma): joblib's prefix, pandas' xz reader too
    (b"\x04\x22\x4d\x18", "lz4"),  # LZ4 frame (joblib)
    (b"\x28\xb5\x2f\xfd", "zstd"),  # Zstandard frame (pandas .zst)
)


def _tar_header(head: bytes) -> bool:
    """Whether ``tarfile.open(mode="r:")`` accepts the first header, which it decides by the
    header checksum, not the ``ustar`` magic (V7 and GNU headers have none)."""
    if len(head) < 512 or head[:512].count(0) == 512:
        return False
    chksum = head[148:156]
    if chksum[0] not in (0o200, 0o377):
        try:  # what tarfile's nti() does with the field; it refuses the header when this fails
            int(chksum.split(b"\x00", 1)[0].decode("ascii").strip() or "0", 8)
        except ValueError:
            return False
    import tarfile

    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _hdf5_at(src: Source) -> bool:
    """The HDF5 superblock sits at offset 0 or, after a user block, at 512, 1024, 2048, ...
    (the HDF5 library, and so h5py and Keras, looks at each)."""
    offset = 512
    while offset + 8 <= src.size:
        src.fp.seek(offset)
        if src.fp.read(8) == b"\x89HDF\r\n\x1a\n":
            src.fp.seek(0)
            return True
        offset *= 2
    src.fp.seek(0)
    return False


def sniff(src: Source) -> str | None:
    """The format of ``src`` from its content: the reader that its first bytes select."""
    head = src.head(512)
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "zip"
    if _tar_header(head):
        return "tar"
    for magic, wrapper in _COMPRESSED:
        if head.startswith(magic):
            return wrapper
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib"  # joblib's default compressor
    if head[:2] == b"ZF" and len(head) >= 21:
        return "joblib-zfile"  # joblib < 0.10: "ZF", 19 hex digits of length, zlib data
    if head[:6] == b"\x93NUMPY":
        return "numpy"
    if native_kind(head):
        return "native-code"  # loaders that take native code from the model run it
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return "hdf5"
    if head[:4] == b"GGUF":
        return "gguf"
    if head[4:8] == b"TFL3":
        return "tflite"
    if _hdf5_at(src):
        return "hdf5"  # h5py finds it after the user block; the pickle view reads the block
    if looks_like_pickle(head):
        return "pickle"
    if _safetensors(head, src.size):
        return "safetensors"
    kind = _protobuf_kind(src, head)
    if kind:
        return kind
    if src.size >= 22 and _has_eocd(src):
        return "zip"  # data prepended to a zip: the reader still finds its directory
    base = src.name.rsplit("/", 1)[-1]
    if base in _HF_CONFIGS and head.lstrip()[:1] in (b"{", b"["):
        return "hf-config"  # read by name: its auto_map (modules.json: types) imports code
    if base.endswith(".jinja"):  # chat_template.jinja, additional_chat_templates/<name>.jinja
        return "chat-template"
    if base == "MLmodel":
        return "mlflow-model"  # mlflow.pyfunc.load_model imports what it names
    if base == "config.pbtxt":
        return "triton-config"  # its backend may be Python shipped beside it
    if base.endswith((".pbtxt", ".meta")):
        return "tf-text-graph"  # saved_model.pbtxt, graph.pbtxt, a text MetaGraphDef
    if base == "model_config.yaml":
        return "hydra-config"  # NeMo instantiates its _target_s
    return None


_HF_CONFIGS = frozenset(
    ["config.json", "tokenizer_config.json", "processor_config.json",
     "preprocessor_config.json", "feature_extractor_config.json",
     "image_processor_config.json", "video_preprocessor_config.json", "chat_template.json",
     "modules.json", "model_index.json", "modular_model_index.json", "adapter_config.json"]
)  # fmt: skip
_PICKLE_KINDS = frozenset({"pickle"})

# Bytes on which every loader's pickle.load fails at the first opcode: not an opcode at all,
# or PERSID/BINPERSID, which plain pickle.load, joblib and numpy refuse without a
# persistent_load.
_NO_PICKLE_START = frozenset(range(256)) - frozenset(
    b"(.012FIJKLMNRSTUVXabcdeghijlopqrstu}])BCG" + bytes(range(0x80, 0x99))
)


def views(src: Source, kind: str | None) -> list[str]:
    """The other loaders' views of ``src`` after its own reader's (``kind``): ``pickle.load``
    from offset 0 (``torch.load`` legacy, joblib, ``numpy.load(allow_pickle=True)`` and
    ``pandas.read_pickle`` all fall back to it), unless a parser accounted for every byte;
    and ``zipfile``, which finds an archive by its end record wherever it starts."""
    out = []
    head = src.head(1)
    if kind not in _PICKLE_KINDS and not src.accounted and head and head[0] not in _NO_PICKLE_START:
        out.append("pickle-view")
    if kind != "zip" and src.size >= 22 and _has_eocd(src):
        out.append("zip-view")
    return out


def _has_eocd(src: Source) -> bool:
    n = min(src.size, 22 + 65535)
    src.fp.seek(src.size - n)
    tail = src.fp.read(n)
    src.fp.seek(0)
    return b"PK\x05\x06" in tail


def analyzers() -> dict[str, Analyzer]:
    """The registry: format name → analyzer (explicit; a fresh copy of the table built when
    the first scan starts)."""
    return dict(_registry())


@functools.cache
def _registry() -> dict[str, Analyzer]:
    from mlstix.scan.models.formats import (
        _tftext,
        archives,
        compressed,
        hfconfig,
        hydra,
        keras,
        mlflow,
        native,
        protobuf,
        serialized,
        tensors,
        triton,
    )

    return {
        "zip": archives.analyze_zip,
        "hf-config": hfconfig.analyze_hf_config,
        "chat-template": hfconfig.analyze_chat_template,
        "mlflow-model": mlflow.analyze_mlmodel,
        "triton-config": triton.analyze_triton_config,
        "hydra-config": hydra.analyze_hydra_yaml,
        "native-code": native.analyze_native,
        "tar": archives.analyze_tar,
        "gzip": compressed.analyze_compressed,
        "bz2": compressed.analyze_compressed,
        "xz": compressed.analyze_compressed,
        "zlib": compressed.analyze_compressed,
        "lzma": compressed.analyze_compressed,
        "lz4": compressed.analyze_compressed,
        "zstd": compressed.analyze_compressed,
        "joblib-zfile": compressed.analyze_compressed,
        "pickle-view": serialized.pickle_view,
        "zip-view": archives.zip_view,
        "pickle": serialized.analyze_pickle,
        "numpy": serialized.analyze_npy,
        "hdf5": keras.analyze_hdf5,
        "gguf": tensors.analyze_gguf,
        "safetensors": tensors.analyze_safetensors,
        "tflite": tensors.analyze_tflite,
        "onnx": protobuf.analyze_onnx,
        "tf-savedmodel": protobuf.analyze_savedmodel,
        "tf-graphdef": protobuf.analyze_graphdef,
        "tf-text-graph": _tftext.analyze_tf_text,
        "keras-metadata": protobuf.analyze_keras_metadata,
        "tf-fingerprint": protobuf.analyze_inert,
        "sentencepiece": protobuf.analyze_inert,
    }


Scanner = Callable[[Source], "str | None"]
