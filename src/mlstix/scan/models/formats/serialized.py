"""Analyzers for pickle-based files: raw pickles (PyTorch legacy stacked pickles and joblib
included) and NumPy ``.npy`` arrays (NumPy format spec, ``numpy.lib.format``: object arrays are
pickles after the header)."""

from __future__ import annotations

import ast
import struct

from mlstix.scan.models._context import Context, Source
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream
from mlstix.scan.models.pickles.result import PickleResult

__all__ = ["analyze_npy", "analyze_pickle", "report_pickle"]


def report_pickle(result: PickleResult, src: Source, ctx: Context, kind: str) -> None:
    ctx.hits.extend(result.hits(src.member, kind))


def _kind(result: PickleResult) -> str:
    if result.torch_legacy:
        return "pytorch-legacy"
    if any(q.startswith("joblib.") for q in result.imports):
        return "joblib"
    return "pickle"


def analyze_pickle(src: Source, ctx: Context) -> str:
    src.fp.seek(0)
    result = analyze_pickle_stream(src.fp, ctx.policy)
    kind = _kind(result)
    report_pickle(result, src, ctx, kind)
    _format_hit(src, ctx, kind)
    return kind


def _format_hit(src: Source, ctx: Context, kind: str) -> None:
    ctx.hit(
        "models/pickle-format",
        f"{kind} format: loading it runs whatever the pickle stream names",
        src,
        format=kind,
    )


def analyze_npy(src: Source, ctx: Context) -> str:
    head = src.head(12)
    major = head[6] if len(head) > 6 else 0
    if len(head) < 12 and not (major == 1 and len(head) >= 10):
        ctx.hit("models/unrecognized-model-file", "NumPy header is truncated", src)
        return "numpy"
    if major == 1:
        (hlen,) = struct.unpack("<H", head[8:10])
        start = 10
    elif major in (2, 3) and len(head) >= 12:
        (hlen,) = struct.unpack("<I", head[8:12])
        start = 12
    else:
        ctx.hit("models/unrecognized-model-file", f"NumPy file version {major} is unknown", src)
        return "numpy"
    if hlen > 1 << 20:
        ctx.hit("models/unrecognized-model-file", "NumPy header is implausibly long", src)
        return "numpy"
    src.fp.seek(start)
    raw = src.fp.read(hlen)
    try:
        header = ast.literal_eval(raw.decode("latin-1"))
        descr = header["descr"]
    except (ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError):
        ctx.hit("models/unrecognized-model-file", "NumPy header cannot be parsed", src)
        return "numpy"
    if "O" in repr(descr):
        src.fp.seek(start + hlen)
        result = analyze_pickle_stream(src.fp, ctx.policy, stacked=False)
        report_pickle(result, src, ctx, "numpy object-array")
        _format_hit(src, ctx, "numpy object-array")
    return "numpy"
