"""Inputs for the differential tests: random opcode streams built from CPython's opcode table
(every opcode, arguments in the forms the real unpickler accepts and a few it refuses), and
byte-level mutations of seed files. Driven by a ``random.Random`` so hypothesis (or a seed)
makes them reproducible."""

from __future__ import annotations

import pickletools
import random
import struct

__all__ = ["mutate", "opcode_stream"]

_OPS = list(pickletools.opcodes)
_NAMES = [
    ("os", "system"),
    ("builtins", "getattr"),
    ("builtins", "eval"),
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("numpy", "loadtxt"),
    ("acme.tools", "Runner"),
    ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("copyreg", "_reconstructor"),
    ("__builtin__", "apply"),
    ("pandas", "read_pickle"),
    ("zoneinfo", "ZoneInfo"),
]
_INT_LINES = [b"0", b"1", b"00", b"01", b"+1", b"-0", b" 7", b"010", b"0x1f", b"0o7", b"0b11",
              b"1_000", b"9" * 25, b"1L", b"12\x00junk", b"", b" ", b"x", b"0x", b"1e3", b"08",
              b"-9223372036854775809", b"\x001"]  # fmt: skip
_FLOAT_LINES = [b"1.5", b"-0.0", b"inf", b"-Infinity", b"nan", b"1e999", b"1e-999", b".5",
                b"5.", b"1_0.0", b" 1.0", b"1.0 ", b"0x1p3", b"1e", b"1.5\x00x", b"",
                b"+.5e+3"]  # fmt: skip
_STRINGS = [b"'abc'", b'"q"', b"'a\\x41'", b"'\\x4'", b"'bad", b"'\\'", b"''", b"noquote",
            b"'a\\q'", b"'\\n'", b"\"mixed'"]  # fmt: skip
_UNICODE = [b"abc", b"\\u0041", b"\\u00", b"\\U0010ffff", b"\\U00110000", b"caf\xe9", b"a\\b", b""]


def _text(rng: random.Random, kind: str) -> bytes:
    if kind == "int":
        return rng.choice(_INT_LINES) + b"\n"
    if kind == "float":
        return rng.choice(_FLOAT_LINES) + b"\n"
    if kind == "string":
        return rng.choice(_STRINGS) + b"\n"
    if kind == "unicode":
        return rng.choice(_UNICODE) + b"\n"
    module, name = rng.choice(_NAMES)
    return module.encode() + b"\n" + name.encode() + b"\n"


def _arg(rng: random.Random, op: pickletools.OpcodeInfo, memo: int) -> bytes:
    a = op.arg
    if a is None:
        return b""
    n = a.name
    if n == "uint1":
        return bytes([rng.choice([0, 1, 2, 4, 5, 6, memo % 256, rng.randrange(256)])])
    if n == "uint2":
        return struct.pack("<H", rng.randrange(300))
    if n in ("int4", "uint4"):
        return struct.pack("<I", rng.choice([0, 1, memo, rng.randrange(1 << 16)]))
    if n == "uint8":
        return struct.pack("<Q", rng.choice([0, 1, 8, 64, 1 << 40]))
    if n == "float8":
        return struct.pack(">d", rng.random())
    if n == "long1":
        data = rng.randbytes(rng.randrange(4))
        return bytes([len(data)]) + data
    if n == "long4":
        data = rng.randbytes(rng.randrange(4))
        size = rng.choice([len(data), len(data), -1, 1 << 20])
        return struct.pack("<i", size) + data
    if n in ("bytes1", "string1", "unicodestring1"):
        data = _payload(rng)
        return bytes([len(data)]) + data
    if n in ("bytes4", "string4", "unicodestring4"):
        data = _payload(rng)
        return struct.pack("<i" if n == "string4" else "<I", len(data)) + data
    if n in ("bytes8", "bytearray8", "unicodestring8"):
        data = _payload(rng)
        return struct.pack("<Q", len(data)) + data
    if n == "decimalnl_short":
        if op.name in ("GET", "PUT"):
            return rng.choice([b"0", b"1", b"-1", b"+0", b"0x1", b" 1", b"1_0", b"x"]) + b"\n"
        return _text(rng, "int")
    if n == "decimalnl_long":
        return _text(rng, "int")
    if n == "floatnl":
        return _text(rng, "float")
    if n == "stringnl":
        return _text(rng, "string")
    if n == "unicodestringnl":
        return _text(rng, "unicode")
    if n == "stringnl_noescape":
        return rng.choice([b"0", b"storage", b"caf\xe9"]) + b"\n"
    return _text(rng, "global")


def _payload(rng: random.Random) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:
        return b""
    if choice == 1:
        return b"\xff\xfe"  # not UTF-8
    if choice == 2:
        return rng.choice([b"os", b"system", b"posix", b"builtins", b"eval", b"getattr"])
    if choice == 3:
        return rng.choice([b"echo pwned", b"id", b"torch", b"_rebuild_tensor_v2", b"float32"])
    return rng.randbytes(rng.randrange(1, 6))


def opcode_stream(rng: random.Random, length: int = 12) -> bytes:
    """A random sequence of ``length`` opcodes, biased towards streams that get far: a
    protocol header, MARKs, imports, calls and a final STOP."""
    out = bytearray()
    if rng.random() < 0.7:
        out += bytes([0x80, rng.choice([0, 1, 2, 3, 4, 5, 5, 6])])
    memo = 0
    for _ in range(length):
        op = rng.choice(_OPS)
        if rng.random() < 0.25:
            op = pickletools.code2op[rng.choice("c(Rt\x93\x81\x85\x86\x94qhb.")]
        if op.name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
            memo += 1
        out += op.code.encode("latin-1") + _arg(rng, op, memo)
    if rng.random() < 0.9:
        out += b"."
    return bytes(out)


def mutate(rng: random.Random, data: bytes, count: int = 3) -> bytes:
    """Flip, insert, delete or duplicate a few bytes or spans of ``data``."""
    buf = bytearray(data)
    for _ in range(rng.randrange(1, count + 1)):
        if not buf:
            buf += rng.randbytes(4)
        kind = rng.randrange(6)
        i = rng.randrange(len(buf))
        if kind == 0:
            buf[i] = rng.randrange(256)
        elif kind == 1:
            buf[i:i] = rng.randbytes(rng.randrange(1, 4))
        elif kind == 2:
            del buf[i : i + rng.randrange(1, 4)]
        elif kind == 3:
            j = rng.randrange(len(buf))
            buf[i:i] = buf[j : j + rng.randrange(1, 16)]
        elif kind == 4:
            buf[i:i] = rng.choice([b"(", b"0", b"1", b"t", b"R", b".", b"\x94", b"h\x00", b"N"])
        else:
            del buf[i:]
            buf += b"."
    return bytes(buf)
