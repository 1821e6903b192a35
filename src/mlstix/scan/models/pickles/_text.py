"""The text arguments of protocol 0 opcodes, read exactly as CPython's ``_pickle`` reads them.

``pickletools`` is stricter and different (``INT`` through ``int(s)``, escape decoding of
``GLOBAL``), so a scanner built on it rejects streams that ``pickle.load`` accepts, or reads
other values. The C unpickler copies each line into a NUL-terminated buffer and parses it
with ``strtol`` and ``PyLong_FromString`` (base 0: ``0x1f``, ``0o7``, ``0b1``, ``1_000``,
``+1``, and through ``strtol`` also C octal ``010``), stops at an embedded NUL, treats
``00``/``01`` (any 3-byte line whose ``strtol`` value is 0 or 1) as booleans, strips an ``L``
from ``LONG``, and refuses floats that overflow. Reference: ``Modules/_pickle.c``
(``load_int``, ``load_long``, ``load_float``, ``load_string``, ``load_unicode``, ``load_get``,
``load_put``, ``load_global``, ``load_persid``), CPython 3.11-3.13; checked against the real
unpickler by ``tests/scan_models/test_class3_pickle_parity.py``.
"""

from __future__ import annotations

import codecs
import math
import re
import warnings
from typing import Any

__all__ = [
    "TextError",
    "python_text_value",
    "read_float",
    "read_int",
    "read_long",
    "read_memo_index",
    "read_string",
    "read_unicode",
]

_LONG_MAX = (1 << 63) - 1
_SPACE = b" \t\n\v\f\r"
_FLOAT = re.compile(rb"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:infinity|inf|nan))")


class TextError(ValueError):
    """The text argument is one the real unpickler refuses."""


def _cstr(line: bytes) -> bytes:
    """What C code sees of a line: up to the first NUL."""
    nul = line.find(b"\0")
    return line if nul < 0 else line[:nul]


def _pylong(text: bytes, base: int) -> int:
    """``PyLong_FromString(text, NULL, base)`` on a C string."""
    try:
        return int(text, base)
    except ValueError:
        raise TextError(f"invalid integer literal {text[:40]!r}") from None


def _strtol0(c: bytes) -> tuple[int, int, bool]:
    """glibc ``strtol(c, &end, 0)``: value, end offset, overflow."""
    i, n = 0, len(c)
    while i < n and c[i] in _SPACE:
        i += 1
    negative = False
    if i < n and c[i] in b"+-":
        negative = c[i] == 0x2D
        i += 1
    base = 10
    if i < n and c[i] == 0x30:
        if i + 2 < n and c[i + 1] in b"xX" and chr(c[i + 2]) in "0123456789abcdefABCDEF":
            base = 16
            i += 2
        else:
            base = 8
    start, value = i, 0
    while i < n:
        ch = chr(c[i])
        digit = int(ch, 16) if ch in "0123456789abcdefABCDEF" else 99
        if digit >= base:
            break
        value = value * base + digit
        i += 1
    if i == start:
        return 0, 0, False
    value = -value if negative else value
    return value, i, not (-_LONG_MAX - 1 <= value <= _LONG_MAX)


def read_int(line: bytes) -> int | bool:
    """``INT``: ``line`` includes its newline."""
    if len(line) < 2:
        raise TextError("pickle exhausted before end of line")
    c = _cstr(line)
    value, end, overflow = _strtol0(c)
    if overflow or (end < len(c) and c[end] not in b"\n"):
        return _pylong(c, 0)
    if len(line) == 3 and value in (0, 1):
        return bool(value)
    return value


def read_long(line: bytes) -> int:
    """``LONG``: an optional ``L`` before the newline is dropped."""
    if len(line) < 2:
        raise TextError("pickle exhausted before end of line")
    if line[-2:-1] == b"L":
        line = line[:-2]
    return _pylong(_cstr(line), 0)


def read_float(line: bytes) -> float:
    """``FLOAT``: ``PyOS_string_to_double`` with overflow as an error."""
    if len(line) < 2:
        raise TextError("pickle exhausted before end of line")
    c = _cstr(line)
    m = _FLOAT.match(c)
    if m is None:
        raise TextError("could not convert string to float")
    end = m.end()
    if end < len(c) and c[end] not in b"\n":
        raise TextError("could not convert string to float")
    value = float(m.group())
    if math.isinf(value) and b"n" not in m.group().lower():
        raise TextError("float overflow")
    return value


def read_memo_index(line: bytes, *, put: bool) -> int:
    """``GET``/``PUT``: decimal (``PyLong_FromString`` base 10)."""
    if len(line) < 2:
        raise TextError("pickle exhausted before end of line")
    idx = _pylong(_cstr(line), 10)
    if put and idx < 0:
        raise TextError("negative PUT argument")
    return idx


def read_string(line: bytes) -> str:
    """``STRING``: quoted, escape-decoded, then decoded as latin-1 (what the loaders that read
    Python 2 pickles ask for; the default ASCII only refuses more)."""
    body = line[:-1]
    if len(body) < 2 or body[0] != body[-1] or body[:1] not in (b"'", b'"'):
        raise TextError("the STRING opcode argument must be quoted")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escapes warn; the text is data
        try:
            raw = codecs.escape_decode(body[1:-1])[0]
        except ValueError as exc:
            raise TextError(str(exc)) from None
    return raw.decode("latin-1")


def read_unicode(line: bytes) -> str:
    """``UNICODE``: raw-unicode-escape."""
    try:
        return codecs.raw_unicode_escape_decode(line[:-1])[0]
    except UnicodeDecodeError as exc:
        raise TextError(str(exc)) from None


def python_text_value(opname: str, line: bytes) -> Any:
    """The argument ``pickle._Unpickler`` (pure Python; joblib.load's) reads from ``line`` (with
    its newline) where ``_pickle`` may refuse it: ``int(x, 0)``, ``float(x)`` (underscores,
    surrounding whitespace), ``int(x)`` for memo indices. ``ValueError`` where it refuses too.
    Reference: ``Lib/pickle.py`` (``load_int``, ``load_long``, ``load_float``, ``load_string``,
    ``load_unicode``, ``load_put``, ``load_get``)."""
    body = line[:-1]
    try:
        if opname == "INT":
            if line in (b"00\n", b"01\n"):
                return line == b"01\n"
            return int(line, 0)
        if opname == "LONG":
            return int(body[:-1] if body.endswith(b"L") else body, 0)
        if opname == "FLOAT":
            return float(body)
        if opname in ("PUT", "GET"):
            index = int(body)
            if index < 0 and opname == "PUT":
                raise ValueError("negative PUT argument")
            return index
        if opname == "STRING":
            if len(body) < 2 or body[0] != body[-1] or body[:1] not in (b"'", b'"'):
                raise ValueError("the STRING opcode argument must be quoted")
            return codecs.escape_decode(body[1:-1])[0].decode("latin-1")
        if opname == "UNICODE":
            return str(body, "raw-unicode-escape")
        if opname == "PERSID":
            return body.decode("ascii")
    except (UnicodeDecodeError, OverflowError) as exc:
        raise ValueError(str(exc)) from None
    raise ValueError(f"{opname} has no text argument")
