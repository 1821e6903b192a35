"""Reading a pickle opcode stream: opcodes and their arguments, from a file or a buffer.

Opcode table from :mod:`pickletools` (every protocol, 0-5). Large byte payloads are skipped by
seeking, never loaded; newline-terminated arguments are bounded. Two readers share one
interface: :class:`BufReader` over bytes in memory (the fast path, for streams up to
``MAX_BUFFER``) and :class:`StreamReader` over a seekable file (bounded memory for huge files).
"""

from __future__ import annotations

import io
import pickletools
import struct
from dataclasses import dataclass
from typing import IO, Any

from mlstix.scan.models.pickles._text import (
    TextError,
    read_float,
    read_int,
    read_long,
    read_memo_index,
    read_string,
    read_unicode,
)

__all__ = ["OPS", "Blob", "BufReader", "Call", "Global", "Malformed", "StreamReader", "read_arg"]

OPS = {op.code.encode("latin-1")[0]: op for op in pickletools.opcodes}
BIG = 1 << 20  # byte payloads above this are skipped, not read
MAX_LINE = 64 << 20  # text arguments of a streamed file (CPython has no limit; in memory, none)
MAX_BUFFER = 256 << 20


class Malformed(Exception):
    """The stream is not a valid pickle at ``pos``."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


class OverBudget(Malformed):
    """The machine's opcode budget ran out at ``pos``; the stream itself may go on."""


@dataclass(frozen=True)
class Global:
    module: str
    name: str

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True, eq=False)
class Call:
    """What a call returned: compared and hashed by identity, as most objects a pickle builds
    are (hashing the arguments would take exponential time on a DAG of shared values the
    real loader hashes at once)."""

    func: Any
    args: Any


@dataclass(frozen=True)
class Blob:
    """A large byte payload that was skipped."""

    size: int


class _Sized:
    """Length-prefixed arguments, shared by both readers."""

    def exact(self, n: int) -> bytes:
        raise NotImplementedError

    def skip(self, n: int) -> None:
        raise NotImplementedError

    def tell(self) -> int:
        raise NotImplementedError

    def sized(self, width: int, signed: bool = False) -> bytes | Blob:
        fmt = {1: "<B", 4: "<i" if signed else "<I", 8: "<Q"}[width]
        (n,) = struct.unpack(fmt, self.exact(width))
        if n < 0:
            raise Malformed("negative length", self.tell())
        if n > BIG:
            self.skip(n)
            return Blob(n)
        return self.exact(n)


class BufReader(_Sized):
    """Reads from bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)

    def tell(self) -> int:
        return self.pos

    def at_end(self) -> bool:
        return self.pos >= self.end

    def code(self) -> int | None:
        if self.pos >= self.end:
            return None
        self.pos += 1
        return self.data[self.pos - 1]

    def exact(self, n: int) -> bytes:
        p = self.pos
        if p + n > self.end:
            raise Malformed(f"truncated: wanted {n} bytes, got {self.end - p}", p)
        self.pos = p + n
        return self.data[p : p + n]

    def skip(self, n: int) -> None:
        if self.pos + n > self.end:
            raise Malformed(f"truncated: a {n}-byte payload runs past the end", self.pos)
        self.pos += n

    def seek(self, pos: int) -> None:
        self.pos = pos

    def rest(self, limit: int) -> bytes:
        return self.data[self.pos : self.pos + limit]

    def line(self) -> bytes:
        i = self.data.find(b"\n", self.pos)
        if i < 0:
            raise Malformed("pickle exhausted before end of line", self.pos)
        out = self.data[self.pos : i + 1]
        self.pos = i + 1
        return out


class StreamReader(_Sized):
    """Reads from a seekable binary stream (for pickles too big to hold in memory)."""

    def __init__(self, fp: IO[bytes]) -> None:
        self.fp = fp
        here = fp.tell()
        self.end = fp.seek(0, io.SEEK_END)
        fp.seek(here)

    def tell(self) -> int:
        return self.fp.tell()

    def at_end(self) -> bool:
        return self.fp.tell() >= self.end

    def code(self) -> int | None:
        b = self.fp.read(1)
        return b[0] if b else None

    def exact(self, n: int) -> bytes:
        data = self.fp.read(n)
        if len(data) != n:
            raise Malformed(f"truncated: wanted {n} bytes, got {len(data)}", self.tell())
        return data

    def skip(self, n: int) -> None:
        here = self.fp.tell()
        if here + n > self.end:
            raise Malformed(f"truncated: a {n}-byte payload runs past the end", here)
        self.fp.seek(here + n)

    def seek(self, pos: int) -> None:
        self.fp.seek(pos)

    def rest(self, limit: int) -> bytes:
        here = self.fp.tell()
        data = self.fp.read(limit)
        self.fp.seek(here)
        return data

    def line(self) -> bytes:
        data = self.fp.readline(MAX_LINE)
        if not data.endswith(b"\n"):
            if len(data) >= MAX_LINE:
                raise Malformed(f"text argument longer than {MAX_LINE} bytes", self.tell())
            raise Malformed("pickle exhausted before end of line", self.tell())
        return data


Reader = BufReader | StreamReader

_SIZED = {
    "bytes1": (1, False),
    "string1": (1, False),
    "unicodestring1": (1, False),
    "bytes4": (4, False),
    "string4": (4, True),
    "unicodestring4": (4, False),
    "bytes8": (8, False),
    "bytearray8": (8, False),
    "unicodestring8": (8, False),
}
_FIXED = {"uint1": "<B", "uint2": "<H", "int4": "<i", "uint4": "<I", "uint8": "<Q", "float8": ">d"}


def read_arg(r: Reader, op: pickletools.OpcodeInfo) -> Any:
    arg = op.arg
    if arg is None:
        return None
    name = arg.name
    if name in _FIXED:
        return struct.unpack(_FIXED[name], r.exact(arg.n))[0]
    if name in _SIZED:
        width, signed = _SIZED[name]
        raw = r.sized(width, signed)
        if isinstance(raw, Blob):
            return raw
        if name.startswith("unicode"):
            return raw.decode("utf-8", "surrogatepass")
        if name.startswith("string"):
            return raw.decode("latin-1")
        return bytearray(raw) if name == "bytearray8" else raw
    if name == "long1":
        (n,) = struct.unpack("<B", r.exact(1))
        return int.from_bytes(r.exact(n), "little", signed=True)
    if name == "long4":
        (n,) = struct.unpack("<i", r.exact(4))
        if n < 0:
            raise Malformed("LONG pickle has negative byte count", r.tell())
        if n > BIG:  # as long as CPython's, never converted: the value is not needed
            r.skip(n)
            return Blob(n)
        return int.from_bytes(r.exact(n), "little", signed=True)
    # newline-terminated text arguments, read as Modules/_pickle.c reads them
    line = r.line()
    try:
        return _text_arg(op.name, name, line, r)
    except TextError as exc:
        raise Malformed(str(exc), r.tell()) from None


def _text_arg(opname: str, name: str, line: bytes, r: Reader) -> Any:
    if name == "stringnl_noescape_pair":  # GLOBAL, INST: two lines, UTF-8, neither empty
        second = r.line()
        if len(line) < 2 or len(second) < 2:
            raise TextError("pickle exhausted before end of line")
        codec = "ascii" if opname == "INST" else "utf-8"  # as load_inst / load_global decode
        try:
            # a pair, not one string: a module name may itself hold a space
            return (line[:-1].decode(codec), second[:-1].decode(codec))
        except UnicodeDecodeError as exc:
            raise TextError(f"import name is not {codec}: {exc}") from None
    if name == "stringnl_noescape":  # PERSID
        try:
            return line[:-1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise TextError(f"persistent id is not ASCII: {exc}") from None
    if opname in ("GET", "PUT"):
        return read_memo_index(line, put=opname == "PUT")
    if name == "decimalnl_short":
        return read_int(line)
    if name == "decimalnl_long":
        return read_long(line)
    if name == "floatnl":
        return read_float(line)
    if name == "stringnl":
        return read_string(line)
    if name == "unicodestringnl":
        return read_unicode(line)
    raise TextError(f"no reader for argument {name}")
