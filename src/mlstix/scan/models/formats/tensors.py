"""Analyzers for tensor-only formats: safetensors (huggingface/safetensors format spec), GGUF
(ggml ``docs/gguf.md``: metadata key/values, chat templates), TFLite (recognized only)."""

from __future__ import annotations

import itertools
import json
import re
import struct
from typing import IO, Any

from mlstix.scan.models._context import Context, Source
from mlstix.scan.models.formats._gguf_tensors import (
    DEFAULT_ALIGNMENT,
    hidden_bytes,
    tensor_problems,
)

__all__ = ["analyze_gguf", "analyze_safetensors", "analyze_tflite", "check_template"]

_ST_DTYPES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2,
    "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8,
    "C64": 8, "F4": 1, "F6_E2M3": 1, "F6_E3M2": 1,
}  # fmt: skip
_ST_MAX_HEADER = 100 << 20


def analyze_tflite(src: Source, ctx: Context) -> str:
    del src, ctx  # a FlatBuffer of tensors and builtin ops; custom ops need code in the host
    return "tflite"


def _bad(src: Source, ctx: Context, message: str, **evidence: object) -> str:
    """The safetensors loader refuses such a header: a finding and an error for the file."""
    ctx.malformed("models/safetensors-invalid", message, src, **evidence)
    return "safetensors"


def analyze_safetensors(src: Source, ctx: Context) -> str:
    (n,) = struct.unpack("<Q", src.head(8))
    if n > _ST_MAX_HEADER:
        return _bad(src, ctx, f"header length {n} exceeds the 100 MB the format allows")
    src.fp.seek(8)
    raw = src.fp.read(n)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _bad(src, ctx, f"header is not valid JSON: {exc}")
    if not isinstance(header, dict):
        return _bad(src, ctx, "header is not a JSON object")
    data_len = src.size - 8 - n
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in info.items()
            ):
                _bad(src, ctx, "__metadata__ must map strings to strings")
            continue
        problem = _tensor_problem(info, data_len)
        if problem:
            _bad(src, ctx, f"tensor {name!r}: {problem}", tensor=name)
            continue
        begin, end = info["data_offsets"]
        spans.append((begin, end, name))
    spans.sort()
    overlap = False
    for (_, e1, n1), (b2, _, n2) in itertools.pairwise(spans):
        if b2 < e1:
            overlap = True
            _bad(src, ctx, f"tensors {n1!r} and {n2!r} overlap", tensors=[n1, n2])
    covered = sum(e - b for b, e, _ in spans)
    if not overlap and covered != data_len:
        _bad(src, ctx, f"tensors cover {covered} of the {data_len} data bytes (unindexed data)")
    elif not overlap and len(spans) == len(header) - ("__metadata__" in header):
        # Every byte is accounted for. No pickle view applies: a header length the format
        # accepts (under 100 MB) has zero high bytes, and the only opcode that could step
        # over them (BINFLOAT) lands on the JSON header, whose characters after "{" are not
        # pickle opcodes that could reach an import.
        src.accounted = True
    return "safetensors"


def _tensor_problem(info: Any, data_len: int) -> str | None:
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        return "entry must have exactly dtype, shape and data_offsets"
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in _ST_DTYPES:
        return f"unknown dtype {dtype!r}"
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        return f"bad shape {shape!r}"
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) for o in offsets)
    ):
        return f"bad data_offsets {offsets!r}"
    begin, end = offsets
    if not 0 <= begin <= end <= data_len:
        return f"data_offsets {offsets} fall outside the {data_len}-byte data section"
    count = 1
    for d in shape:
        count *= d
    if dtype in ("F4",) or dtype.startswith("F6"):
        return None  # sub-byte packed types: size checked by the loader
    if count * _ST_DTYPES[dtype] != end - begin:
        need = count * _ST_DTYPES[dtype]
        return f"shape {shape} of {dtype} needs {need} bytes, data_offsets give {end - begin}"
    return None


# -- GGUF -------------------------------------------------------------------------------------

_GGUF_FIXED = {
    0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d",
}  # fmt: skip
_MAX_KV = 1_000_000
_MAX_ARRAY_DEPTH = 8  # arrays of arrays: no GGUF writer nests deeper; bounded recursion
_TEMPLATE_ESCAPES = re.compile(
    r"__[A-Za-z]\w*__|\|\s*attr\s*\(|\\x5f|\\u005f|\\137|\bmro\b|\bos\.popen|\bsubprocess\b"
    r"|\bimport_module\b|\beval\s*\(|\bexec\s*\(|\b(?:lipsum|cycler|joiner|url_for)\b"
    r"|\bself\._|%c|\|\s*format\s*\(\s*9[45]\b"
)
# Jinja string literals, for names built at run time: '__cla' ~ 'ss__', ['_','_']|join, ...
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", re.DOTALL)


def _unescape(text: str) -> str:
    """A Jinja string literal's value (Python escapes: ``\x5f`` is ``_``)."""
    try:
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return text


_REPLACE = re.compile(r"replace\s*\(\s*(?:'([^']*)'|\"([^\"]*)\")\s*,\s*(?:'([^']*)'|\"([^\"]*)\")")
_NUMBERS = re.compile(r"format\s*\(([\d\s,]+)\)")


def _template_views(template: str) -> list[str]:
    """What a template can amount to at run time, for the pattern search: the text as stored,
    without NULs, each literal's value and all literals joined (``~``, ``+``, ``join``), each
    of those with the template's literal ``replace`` filters applied, reversed (``reverse``),
    lower-cased; and the characters of numbers passed to ``format`` (``"%c"|format(95)``)."""
    literals = [_unescape(a or b) for a, b in _LITERAL.findall(template)]
    texts = [*literals, "".join(literals)]
    for match in _REPLACE.finditer(template):
        old = _unescape(match.group(1) or match.group(2) or "")
        new = _unescape(match.group(3) or match.group(4) or "")
        if old:
            texts += [t.replace(old, new) for t in texts[: len(literals) + 1]]
    texts += [t[::-1] for t in texts] + [t.lower() for t in texts]
    for match in _NUMBERS.finditer(template):
        codes = [int(n) for n in match.group(1).replace(",", " ").split() if int(n) < 0x110000]
        texts.append("".join(map(chr, codes)))
    return [template, template.replace("\0", ""), *texts]


_UNSAFE_NAMES = frozenset(
    ["mro", "func_globals", "f_globals", "f_locals", "f_builtins", "f_back", "gi_frame",
     "gi_code", "cr_frame", "tb_frame", "import_module"]
)  # fmt: skip


def _parsed_escapes(src: Source, ctx: Context, key: str, template: str) -> set[str]:
    """The template's attribute and item names, read with Jinja's parser and constant-folded
    (names built at run time: :mod:`._jinja`), that leave Jinja's data model: ``_``-prefixed
    names (Jinja's sandbox refuses them), frame and globals attributes, and names built by
    string operations that cannot be followed."""
    try:
        from mlstix.scan.models.formats._jinja import COMPUTED, accessed_names
    except ImportError:  # pragma: no cover - jinja2 ships with the scan extra
        return set()
    try:
        names = accessed_names(template)
    except ImportError:
        ctx.malformed("models/unreadable", f"chat template {key!r} not parsed: the jinja2 "
                      "module is missing (pip install 'mlstix[scan]')", src)  # fmt: skip
        return set()
    except ValueError:
        return set()  # Jinja refuses it: no renderer runs it; the pattern search still does
    return {
        name if name != COMPUTED else "a name built at run time"
        for name in names
        if name == COMPUTED or name.startswith("_") or name in _UNSAFE_NAMES
    }


class _GgufError(Exception):
    pass


def _exact(fp: IO[bytes], n: int) -> bytes:
    data = fp.read(n)
    if len(data) != n:
        raise _GgufError("truncated")
    return data


def _skip(fp: IO[bytes], n: int) -> None:
    """Skip ``n`` bytes that must be in the file (llama.cpp reads them: a short file fails)."""
    here = fp.tell()
    if here + n > fp.seek(0, 2):
        raise _GgufError(f"truncated: {n} bytes at offset {here} run past the end")
    fp.seek(here + n)


def _gguf_string(fp: IO[bytes], keep: bool, order: str, limit: int = 16 << 20) -> str | None:
    (n,) = struct.unpack(order + "Q", _exact(fp, 8))
    if n > limit:
        raise _GgufError(f"string of {n} bytes")
    if not keep:
        _skip(fp, n)
        return None
    raw = _exact(fp, n)
    # llama.cpp passes the bytes on as they are: keep every one (invalid UTF-8 dropped, not
    # turned into a replacement character that could split a name)
    return raw.decode("utf-8", "ignore")


def _gguf_value(fp: IO[bytes], vtype: int, keep: bool, order: str, depth: int = 0) -> Any:
    if vtype in _GGUF_FIXED:
        fmt = order + _GGUF_FIXED[vtype]
        return struct.unpack(fmt, _exact(fp, struct.calcsize(fmt)))[0]
    if vtype == 8:
        return _gguf_string(fp, keep, order)
    if vtype == 9:
        (itype,) = struct.unpack(order + "I", _exact(fp, 4))
        (count,) = struct.unpack(order + "Q", _exact(fp, 8))
        if itype in _GGUF_FIXED:
            _skip(fp, count * struct.calcsize(order + _GGUF_FIXED[itype]))
            return None
        if depth >= _MAX_ARRAY_DEPTH:
            raise _GgufError(f"arrays nested more than {_MAX_ARRAY_DEPTH} deep")
        items = [_gguf_value(fp, itype, keep, order, depth + 1) for _ in range(count)]
        return items if keep else None
    raise _GgufError(f"unknown value type {vtype}")


def analyze_gguf(src: Source, ctx: Context) -> str:
    fp = src.fp
    fp.seek(4)
    try:
        raw_version = _exact(fp, 4)
        # a version whose low half is zero read little-endian is a big-endian file: gguf-py
        # reads it byte-swapped (llama.cpp on a big-endian host natively)
        order = ">" if struct.unpack("<I", raw_version)[0] & 0xFFFF == 0 else "<"
        (version,) = struct.unpack(order + "I", raw_version)
        if version == 1:
            raise _GgufError("GGUF v1 is not supported")
        tensors, kv_count = struct.unpack(order + "QQ", _exact(fp, 16))
        if kv_count > _MAX_KV:
            raise _GgufError(f"{kv_count} metadata entries")
        alignment = DEFAULT_ALIGNMENT
        keys: set[str] = set()
        for _ in range(kv_count):
            key = _gguf_string(fp, True, order, 1 << 16) or ""
            if key in keys:  # llama.cpp refuses the file; readers keeping the last one differ
                raise _GgufError(f"duplicate metadata key {key!r}")
            keys.add(key)
            (vtype,) = struct.unpack(order + "I", _exact(fp, 4))
            is_template = "chat_template" in key
            value = _gguf_value(fp, vtype, is_template, order)
            if key == "general.alignment":
                alignment = _alignment(vtype, value)
            if is_template:
                for text in value if isinstance(value, list) else [value]:
                    if isinstance(text, str):
                        check_template(src, ctx, key, text)
    except (_GgufError, struct.error) as exc:
        ctx.malformed("models/unrecognized-model-file", f"GGUF metadata cannot be read: {exc}", src)
        return "gguf"
    problems, layout = tensor_problems(fp, tensors, alignment, src.size, order)
    for problem in problems:
        ctx.malformed("models/gguf-invalid", f"GGUF {problem}", src)
    hidden = hidden_bytes(fp, layout, alignment, src.size) if layout is not None else None
    if hidden is not None:
        ctx.hit("models/gguf-hidden-data", f"GGUF {hidden}", src)
    return "gguf"


def _alignment(vtype: int, value: Any) -> int:
    """``general.alignment`` as llama.cpp takes it: a u32 (another type fails its type
    assertion) and a power of two."""
    if vtype != 4 or not isinstance(value, int):
        raise _GgufError(f"general.alignment of value type {vtype} (llama.cpp wants a u32)")
    if value <= 0 or value & (value - 1):
        raise _GgufError(f"general.alignment {value} is not a power of 2")
    return value


def check_template(src: Source, ctx: Context, key: str, template: str) -> None:
    """A chat template that reaches Python internals (GGUF and Hugging Face configs)."""
    found = sorted(
        {m.group(0) for text in _template_views(template) for m in _TEMPLATE_ESCAPES.finditer(text)}
        | _parsed_escapes(src, ctx, key, template)
    )
    if found:
        ctx.hit(
            "models/gguf-template-injection",
            f"chat template {key!r} reaches Python internals: {', '.join(found[:5])}",
            src,
            key=key,
            patterns=found[:10],
        )
