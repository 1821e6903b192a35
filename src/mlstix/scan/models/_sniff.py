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

import struct
from collections.abc import Callable

from mlstix.scan.models._context import Analyzer, Source
from mlstix.scan.models.pickles import looks_like_pickle

__all__ = ["CONTAINERS", "MODEL_SUFFIXES", "analyzers", "sniff"]

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


CONTAINERS = frozenset({"zip", "tar", "gzip", "bz2", "xz", "zlib"})


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
    return None


def sniff(src: Source) -> str | None:
    """The format of ``src`` from its content."""
    head = src.head(512)
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh" and head[3:4].isdigit():
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib"  # joblib's default compressor
    if head[:6] == b"\x93NUMPY":
        return "numpy"
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return "hdf5"
    if head[:4] == b"GGUF":
        return "gguf"
    if head[4:8] == b"TFL3":
        return "tflite"
    if looks_like_pickle(head):
        return "pickle"
    if _safetensors(head, src.size):
        return "safetensors"
    kind = _protobuf_kind(src, head)
    if kind:
        return kind
    if src.size >= 22 and _has_eocd(src):
        return "zip"  # data prepended to a zip: the reader still finds its directory
    return None


def _has_eocd(src: Source) -> bool:
    n = min(src.size, 22 + 65535)
    src.fp.seek(src.size - n)
    tail = src.fp.read(n)
    src.fp.seek(0)
    return b"PK\x05\x06" in tail


def analyzers() -> dict[str, Analyzer]:
    """The registry: format name → analyzer (explicit, built when a scan starts)."""
    from mlstix.scan.models.formats import archives, keras, protobuf, serialized, tensors

    return {
        "zip": archives.analyze_zip,
        "tar": archives.analyze_tar,
        "gzip": archives.analyze_compressed,
        "bz2": archives.analyze_compressed,
        "xz": archives.analyze_compressed,
        "zlib": archives.analyze_compressed,
        "pickle": serialized.analyze_pickle,
        "numpy": serialized.analyze_npy,
        "hdf5": keras.analyze_hdf5,
        "gguf": tensors.analyze_gguf,
        "safetensors": tensors.analyze_safetensors,
        "tflite": tensors.analyze_tflite,
        "onnx": protobuf.analyze_onnx,
        "tf-savedmodel": protobuf.analyze_savedmodel,
        "tf-graphdef": protobuf.analyze_graphdef,
        "keras-metadata": protobuf.analyze_keras_metadata,
        "tf-fingerprint": protobuf.analyze_inert,
        "sentencepiece": protobuf.analyze_inert,
    }


Scanner = Callable[[Source], "str | None"]
