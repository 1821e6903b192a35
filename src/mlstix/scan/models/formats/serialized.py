"""Analyzers for pickle-based files: raw pickles (PyTorch legacy stacked pickles and joblib
included), the pickle view of any other file (``pickle.load`` from offset 0), and NumPy
``.npy`` arrays (``numpy.lib.format``: object arrays are one pickle after the header; other
arrays are exactly ``itemsize * prod(shape)`` bytes, computed with NumPy's own dtype parser)."""

from __future__ import annotations

import ast
import io
import math
import re
import struct
import tokenize
from typing import Any

from mlstix.scan.models._context import Context, Hit, Source
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream
from mlstix.scan.models.pickles.result import PickleResult

__all__ = ["analyze_npy", "analyze_pickle", "pickle_view", "report_pickle"]


def report_pickle(result: PickleResult, src: Source, ctx: Context, kind: str) -> None:
    ctx.hits.extend(result.hits(src.member, kind))
    if result.malformed:
        reason, pos = result.malformed
        ctx.errors.append(
            f"{src.member + ': ' if src.member else ''}a {kind} pickle cannot be fully "
            f"analysed: malformed at byte {pos}: {reason}"
        )


def _kind(result: PickleResult) -> str:
    if result.torch_legacy:
        return "pytorch-legacy"
    if any(q.startswith("joblib.") for q in result.imports):
        return "joblib"
    return "pickle"


def analyze_pickle(src: Source, ctx: Context) -> str:
    src.fp.seek(0)
    result = analyze_pickle_stream(src.fp, ctx.policy)
    if (
        result.segments == 0
        and not (result.imports or result.dynamic or result.extensions)
        and not _model_named(src.name)
    ):
        return "none"  # text that merely starts with opcode characters, not a pickle
    kind = _kind(result)
    report_pickle(result, src, ctx, kind)
    _format_hit(src, ctx, kind)
    if result.torch_legacy and not result.malformed and result.legacy_data is not None:
        _legacy_storages(result, src, ctx, result.legacy_data)
    return kind


def _legacy_storages(result: PickleResult, src: Source, ctx: Context, start: int) -> None:
    """The raw storage data after a legacy checkpoint's five pickles, walked as torch.load
    reads it; bytes after it are read by no loader."""
    from mlstix.scan.models.formats._legacy import legacy_data_problem

    problem, end = legacy_data_problem(
        src.fp, src.size, result.persistent_ids, result.legacy_keys, start
    )
    if problem:
        ctx.malformed("models/unrecognized-model-file",
                      f"legacy PyTorch checkpoint is not what torch.load reads: {problem}",
                      src)  # fmt: skip
    elif end < src.size:
        ctx.hit("models/archive-anomaly", f"{src.size - end} bytes follow the storage data of "
                "this legacy PyTorch checkpoint, which torch.load does not read", src,
                quirk="trailing data")  # fmt: skip


def _model_named(name: str) -> bool:
    from mlstix.scan.models._sniff import MODEL_SUFFIXES

    lower = name.lower()
    return any(lower.endswith(suffix) for suffix in MODEL_SUFFIXES)


_IMPORTABLE = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")


def _importable(hit: Hit) -> bool:
    name = str(hit.evidence.get("import", ""))
    return "call" in hit.evidence or bool(_IMPORTABLE.fullmatch(name))


def pickle_view(src: Source, ctx: Context) -> str:
    """What ``pickle.load(file)`` reaches from offset 0 of a file recognized as another format
    (or as none): ``torch.load`` of a file not starting with a zip header, joblib, numpy and
    pandas all end up there. Reported only when the stream imports something that is not
    allowed; names no import could resolve (bytes of the other format read as opcodes) are
    left out."""
    src.fp.seek(0)
    result = analyze_pickle_stream(src.fp, ctx.policy)
    hits = [
        h
        for h in result.hits(src.member, "pickle view")
        if h.rule_id != "models/pickle-malformed" and _importable(h)
    ]
    if not hits:
        return "none"
    ctx.hits.extend(hits)
    ctx.hit(
        "models/archive-anomaly",
        "pickle.load from offset 0 reaches a pickle stream hidden in this file (a polyglot: "
        "torch.load, joblib, numpy.load and pandas.read_pickle all read it)",
        src,
        quirk="pickle polyglot",
    )
    _format_hit(src, ctx, "pickle")
    return "pickle"


def _format_hit(src: Source, ctx: Context, kind: str) -> None:
    ctx.hit(
        "models/pickle-format",
        f"{kind} format: loading it runs whatever the pickle stream names",
        src,
        format=kind,
    )


# -- NumPy .npy -------------------------------------------------------------------------------


def _filter_header(text: str) -> str:
    """Drop the ``L`` suffix of Python 2 long literals (``(10L, 3L)``), as ``numpy.lib.format``
    does for version 1.0 and 2.0 headers written by Python 2."""
    tokens = []
    after_number = False
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if after_number and tok.type == tokenize.NAME and tok.string == "L":
            continue
        tokens.append(tok)
        after_number = tok.type == tokenize.NUMBER
    return tokenize.untokenize(tokens)


class _BadHeader(Exception):
    pass


def _parse_header(raw: bytes, major: int) -> dict[str, Any]:
    text = raw.decode("utf-8" if major >= 3 else "latin-1")
    try:
        header = ast.literal_eval(text)
    except SyntaxError:
        if major > 2:
            raise _BadHeader("header is not a Python literal") from None
        try:
            header = ast.literal_eval(_filter_header(text))
        except (SyntaxError, tokenize.TokenError, IndentationError) as exc:
            raise _BadHeader(f"header is not a Python literal: {exc}") from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise _BadHeader(f"header is not a Python literal: {type(exc).__name__}") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise _BadHeader("header must have exactly the keys descr, fortran_order and shape")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise _BadHeader(f"shape {shape!r} is not a tuple of sizes")
    if not isinstance(header["fortran_order"], bool):
        raise _BadHeader("fortran_order is not a bool")
    return header


def _dtype(descr: Any) -> tuple[bool, int] | None:
    """``(holds objects, itemsize)`` as NumPy computes them, or ``None`` when NumPy is not
    installed or refuses the descr."""
    try:
        from numpy.lib.format import descr_to_dtype
    except ImportError:
        return None
    try:
        dtype = descr_to_dtype(descr)
    except (
        TypeError,
        ValueError,
        KeyError,
        IndexError,
        OverflowError,
        MemoryError,
        RecursionError,
    ):
        return None
    return bool(dtype.hasobject), int(dtype.itemsize)


def _npy_header(src: Source, ctx: Context) -> tuple[dict[str, Any], int] | None:
    head = src.head(12)
    major = head[6] if len(head) > 6 else 0
    if major == 1 and len(head) >= 10:
        (hlen,) = struct.unpack("<H", head[8:10])
        start = 10
    elif major in (2, 3) and len(head) >= 12:
        (hlen,) = struct.unpack("<I", head[8:12])
        start = 12
    elif major in (1, 2, 3):
        ctx.malformed("models/unrecognized-model-file", "NumPy header is truncated", src)
        return None
    else:
        ctx.malformed("models/unrecognized-model-file", f"NumPy version {major} is unknown", src)
        return None
    if hlen > 1 << 20 or start + hlen > src.size:
        ctx.malformed("models/unrecognized-model-file", "NumPy header runs past the file", src)
        return None
    src.fp.seek(start)
    try:
        return _parse_header(src.fp.read(hlen), major), start + hlen
    except _BadHeader as exc:
        ctx.malformed("models/unrecognized-model-file", f"NumPy {exc}", src)
    except UnicodeDecodeError:
        ctx.malformed("models/unrecognized-model-file", "NumPy header is not UTF-8", src)
    return None


def analyze_npy(src: Source, ctx: Context) -> str:
    parsed = _npy_header(src, ctx)
    if parsed is None:
        return "numpy"
    header, data_start = parsed
    info = _dtype(header["descr"])
    if info is None or info[0]:
        # an object array (or a descr only NumPy could judge): numpy.load(allow_pickle=True)
        # reads one pickle after the header
        src.fp.seek(data_start)
        result = analyze_pickle_stream(src.fp, ctx.policy, stacked=False, joblib=False)
        report_pickle(result, src, ctx, "numpy object-array")
        _format_hit(src, ctx, "numpy object-array")
        src.accounted = True
        return "numpy"
    need = info[1] * math.prod(header["shape"])
    have = src.size - data_start
    if have < need:
        ctx.malformed("models/unrecognized-model-file", f"NumPy array data is truncated: "
                      f"{have} of {need} bytes", src, need=need, have=have)  # fmt: skip
    elif have > need:
        ctx.hit("models/archive-anomaly", f"{have - need} bytes follow the array data, which "
                "numpy.load does not read", src, quirk="trailing data")  # fmt: skip
    src.accounted = True
    return "numpy"
