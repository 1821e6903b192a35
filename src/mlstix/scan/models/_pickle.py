"""Static analysis of pickle streams (protocols 0-5), without unpickling.

The opcode stream is read with our own reader (opcode table from :mod:`pickletools`, so every
protocol is covered) that skips large byte payloads by seeking instead of loading them, and is
interpreted by a symbolic stack machine: literals stay values, imports become :class:`Global`
and calls become :class:`Call`. This resolves every import the stream makes, whatever opcode it
uses: ``GLOBAL``/``INST`` (module and name inline), ``STACK_GLOBAL`` (module and name taken from
the stack, wherever they came from: literals, memo ``PUT``/``GET``, ``MEMOIZE``), ``OBJ``,
``NEWOBJ``/``NEWOBJ_EX`` on imported classes, and ``EXT1/2/4`` (extension registry codes).
``REDUCE`` and ``BUILD`` record which imported objects are called; names computed at load time
(a ``STACK_GLOBAL`` whose module or name is not a literal) are dangerous by construction.

A file may hold several pickles in a row (PyTorch's legacy format holds five; attackers append
payloads after a harmless first pickle): every pickle in the stream is analysed. joblib's
NumPy arrays, written raw between opcodes, are skipped using the shape and dtype the stream
declares (object arrays are nested pickles and are analysed).

Reference: the pickle protocol as implemented by CPython's ``Lib/pickle.py`` and documented in
``Lib/pickletools.py``.
"""

from __future__ import annotations

import io
import pickletools
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from mlstix.scan.models._hits import Hit
from mlstix.scan.models._imports import ImportPolicy, Verdict, normalize

__all__ = ["PickleResult", "analyze_pickle_stream", "looks_like_pickle"]

_OPS = {op.code.encode("latin-1")[0]: op for op in pickletools.opcodes}
_BIG = 1 << 20  # byte payloads above this are skipped, not read
_MAX_LINE = 1 << 16
_MAX_OPS = 50_000_000
_MAX_SEGMENTS = 10_000
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class Malformed(Exception):
    """The stream is not a valid pickle at ``pos``."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


@dataclass(frozen=True)
class Global:
    module: str
    name: str

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Call:
    func: Any
    args: Any


@dataclass(frozen=True)
class Blob:
    """A large byte payload that was skipped."""

    size: int


class _Mark:
    pass


@dataclass
class _ImportStat:
    verdict: Verdict
    opcode: str
    pos: int
    segment: int = 0
    count: int = 0
    called: bool = False
    args: str | None = None


@dataclass
class PickleResult:
    """What analysing one stream found."""

    imports: dict[str, _ImportStat] = field(default_factory=dict)
    dynamic: list[tuple[str, int]] = field(default_factory=list)  # computed imports
    extensions: list[tuple[int, int]] = field(default_factory=list)
    malformed: tuple[str, int] | None = None
    segments: int = 0
    torch_legacy: bool = False

    def hits(self, member: str | None, kind: str) -> list[Hit]:
        out = []
        for qualname, st in sorted(self.imports.items()):
            if st.verdict == "allowed":
                continue
            rule = (
                "models/pickle-dangerous-import"
                if st.verdict == "dangerous"
                else "models/pickle-unknown-import"
            )
            what = "calls" if st.called else "imports"
            where = "the pickle" if kind == "pickle" else f"a pickle in this {kind}"
            if st.segment:
                where += f" (pickle #{st.segment + 1} of the stream)"
            message = f"{where} {what} {qualname}"
            if st.args:
                message += f" with {st.args}"
            evidence: dict[str, Any] = {
                "import": qualname,
                "opcode": st.opcode,
                "offset": st.pos,
                "called": st.called,
                "pickle_index": st.segment,
            }
            if st.args:
                evidence["args"] = st.args
            out.append(Hit(rule, message, member, evidence=evidence))
        for text, pos in self.dynamic:
            out.append(
                Hit(
                    "models/pickle-dangerous-import",
                    f"a {kind} pickle imports a name computed at load time ({text})",
                    member,
                    evidence={"import": text, "opcode": "STACK_GLOBAL", "offset": pos},
                )
            )
        for code, pos in self.extensions:
            out.append(
                Hit(
                    "models/pickle-unknown-import",
                    f"a {kind} pickle imports extension-registry code {code}, resolved by "
                    "whatever copyreg registry the loading process has",
                    member,
                    evidence={"import": f"extension:{code}", "opcode": "EXT", "offset": pos},
                )
            )
        if self.malformed:
            reason, pos = self.malformed
            out.append(
                Hit(
                    "models/pickle-malformed",
                    f"a {kind} pickle is malformed at byte {pos}: {reason}",
                    member,
                    evidence={"offset": pos, "reason": reason},
                )
            )
        return out


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, Global) else value.qualname
    return text if len(text) <= 200 else text[:197] + "..."


class _Reader:
    """Reads opcodes and their arguments from a binary stream."""

    def __init__(self, fp: IO[bytes]) -> None:
        self.fp = fp
        self.seekable = fp.seekable()

    def tell(self) -> int:
        return self.fp.tell()

    def exact(self, n: int) -> bytes:
        data = self.fp.read(n)
        if len(data) != n:
            raise Malformed(f"truncated: wanted {n} bytes, got {len(data)}", self.tell())
        return data

    def skip(self, n: int) -> None:
        if self.seekable:
            here = self.fp.tell()
            end = self.fp.seek(0, io.SEEK_END)
            if here + n > end:
                raise Malformed(f"truncated: a {n}-byte payload runs past the end", here)
            self.fp.seek(here + n)
            return
        while n:
            chunk = self.fp.read(min(n, 1 << 20))
            if not chunk:
                raise Malformed("truncated payload", self.tell())
            n -= len(chunk)

    def line(self) -> bytes:
        data = self.fp.readline(_MAX_LINE)
        if not data.endswith(b"\n"):
            raise Malformed("unterminated or overlong text argument", self.tell())
        return data

    def sized(self, width: int, signed: bool = False) -> bytes | Blob:
        fmt = {1: "<B", 4: "<i" if signed else "<I", 8: "<Q"}[width]
        (n,) = struct.unpack(fmt, self.exact(width))
        if n < 0:
            raise Malformed("negative length", self.tell())
        if n > _BIG:
            self.skip(n)
            return Blob(n)
        return self.exact(n)


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


def _read_arg(r: _Reader, op: pickletools.OpcodeInfo) -> Any:
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
        return raw
    if name == "long1":
        (n,) = struct.unpack("<B", r.exact(1))
        return int.from_bytes(r.exact(n), "little", signed=True)
    if name == "long4":
        (n,) = struct.unpack("<i", r.exact(4))
        if n < 0 or n > _BIG:
            raise Malformed("bad LONG4 length", r.tell())
        return int.from_bytes(r.exact(n), "little", signed=True)
    # newline-terminated text arguments
    line = r.line()
    if name == "stringnl_noescape_pair":
        line += r.line()
    try:
        return arg.reader(io.BytesIO(line))
    except ValueError as exc:
        raise Malformed(str(exc), r.tell()) from None


class _Machine:
    """Symbolic execution of one pickle (until STOP)."""

    def __init__(
        self,
        policy: ImportPolicy,
        result: PickleResult,
        nested: Callable[[], None],
    ) -> None:
        self.policy = policy
        self.result = result
        self.nested = nested  # analyse a nested pickle at the current stream position
        self.stack: list[Any] = []
        self.meta: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.imports_seen = 0

    def pop(self, pos: int) -> Any:
        if not self.stack:
            raise Malformed("stack underflow", pos)
        v = self.stack.pop()
        if isinstance(v, _Mark):
            raise Malformed("unexpected MARK", pos)
        return v

    def pop_mark(self, pos: int) -> list[Any]:
        if not self.meta:
            raise Malformed("no MARK on the stack", pos)
        items = self.stack
        self.stack = self.meta.pop()
        return items

    def top(self, pos: int) -> Any:
        if not self.stack:
            raise Malformed("stack underflow", pos)
        return self.stack[-1]

    def import_(self, module: str, name: str, opcode: str, pos: int) -> Global:
        g = Global(*normalize(module, name))
        st = self.result.imports.get(g.qualname)
        if st is None:
            st = _ImportStat(self.policy.verdict(g.module, g.name), opcode, pos,
                             self.result.segments)  # fmt: skip
            self.result.imports[g.qualname] = st
        st.count += 1
        self.imports_seen += 1
        return g

    def called(self, func: Any, args: Any) -> None:
        if isinstance(func, Global):
            st = self.result.imports.get(func.qualname)
            if st is not None and not st.called:
                st.called = True
                if st.verdict != "allowed":
                    st.args = _short(args)

    def run(self, r: _Reader) -> Any:
        ops = 0
        while True:
            pos = r.tell()
            code = r.fp.read(1)
            if not code:
                raise Malformed("truncated: no STOP opcode", pos)
            op = _OPS.get(code[0])
            if op is None:
                raise Malformed(f"unknown opcode 0x{code[0]:02x}", pos)
            ops += 1
            if ops > _MAX_OPS:
                raise Malformed("too many opcodes", pos)
            arg = _read_arg(r, op)
            if self.step(op.name, arg, pos, r):
                return self.stack[-1] if self.stack else None

    def step(self, name: str, arg: Any, pos: int, r: _Reader) -> bool:
        s = self.stack
        if name == "STOP":
            if len(s) != 1 or self.meta:
                raise Malformed("STOP with an unbalanced stack", pos)
            return True
        if name in ("PROTO", "FRAME"):
            return False
        if name == "MARK":
            self.meta.append(s)
            self.stack = []
        elif name in ("GLOBAL", "INST"):
            module, _, gname = str(arg).partition(" ")
            g = self.import_(module, gname, name, pos)
            if name == "INST":
                args = self.pop_mark(pos)
                self.called(g, tuple(args))
                self.stack.append(Call(g, tuple(args)))
            else:
                s.append(g)
        elif name == "STACK_GLOBAL":
            gname = self.pop(pos)
            module = self.pop(pos)
            if isinstance(module, str) and isinstance(gname, str):
                s.append(self.import_(module, gname, name, pos))
            else:
                text = f"{_short(module)} . {_short(gname)}"
                self.result.dynamic.append((text, pos))
                s.append(Call("dynamic-import", (module, gname)))
        elif name in ("EXT1", "EXT2", "EXT4"):
            self.result.extensions.append((int(arg), pos))
            s.append(Call("extension", int(arg)))
        elif name == "REDUCE":
            args = self.pop(pos)
            func = self.pop(pos)
            self.called(func, args)
            s.append(Call(func, args))
        elif name == "NEWOBJ":
            args = self.pop(pos)
            cls = self.pop(pos)
            self.called(cls, args)
            s.append(Call(cls, args))
        elif name == "NEWOBJ_EX":
            kwargs = self.pop(pos)
            args = self.pop(pos)
            cls = self.pop(pos)
            self.called(cls, (args, kwargs))
            s.append(Call(cls, args))
        elif name == "OBJ":
            items = self.pop_mark(pos)
            if not items:
                raise Malformed("OBJ without a class", pos)
            self.called(items[0], tuple(items[1:]))
            self.stack.append(Call(items[0], tuple(items[1:])))
        elif name == "BUILD":
            state = self.pop(pos)
            obj = self.top(pos)
            if isinstance(obj, Call):
                self.called(obj.func, state)  # __setstate__ of the class runs
                if isinstance(obj.func, Global) and obj.func.name.endswith("NumpyArrayWrapper"):
                    self.skip_joblib_array(state, r, pos)
        elif name in ("PERSID", "BINPERSID"):
            pid = arg if name == "PERSID" else self.pop(pos)
            s.append(Call("persistent_load", pid))
        else:
            self.simple(name, arg, pos)
        return False

    def simple(self, name: str, arg: Any, pos: int) -> None:
        s = self.stack
        if name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[int(arg)] = self.top(pos)
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.top(pos)
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if int(arg) not in self.memo:
                raise Malformed(f"memo key {arg} was never stored", pos)
            s.append(self.memo[int(arg)])
        elif name == "POP":
            if s and isinstance(s[-1], _Mark):
                raise Malformed("POP of a MARK", pos)
            if not s:
                self.pop_mark(pos)  # pickle pops a mark when the stack is empty
            else:
                s.pop()
        elif name == "POP_MARK":
            self.pop_mark(pos)
        elif name == "DUP":
            s.append(self.top(pos))
        elif name == "NONE":
            s.append(None)
        elif name in ("NEWTRUE", "NEWFALSE"):
            s.append(name == "NEWTRUE")
        elif name == "EMPTY_LIST":
            s.append([])
        elif name == "EMPTY_DICT":
            s.append({})
        elif name == "EMPTY_SET":
            s.append(set())
        elif name == "EMPTY_TUPLE":
            s.append(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            if len(s) < n:
                raise Malformed("stack underflow", pos)
            tup = tuple(s[-n:])
            del s[-n:]
            s.append(tup)
        elif name == "TUPLE":
            items = self.pop_mark(pos)
            self.stack.append(tuple(items))
        elif name == "LIST":
            items = self.pop_mark(pos)
            self.stack.append(list(items))
        elif name == "DICT":
            items = self.pop_mark(pos)
            self.stack.append(_pairs(items))
        elif name == "FROZENSET":
            items = self.pop_mark(pos)
            self.stack.append(frozenset(_hashable(v) for v in items))
        elif name == "APPEND":
            v = self.pop(pos)
            target = self.top(pos)
            if isinstance(target, list):
                target.append(v)
        elif name == "APPENDS":
            items = self.pop_mark(pos)
            target = self.top(pos)
            if isinstance(target, list):
                target.extend(items)
        elif name == "SETITEM":
            v = self.pop(pos)
            k = self.pop(pos)
            target = self.top(pos)
            if isinstance(target, dict):
                target[_hashable(k)] = v
        elif name == "SETITEMS":
            items = self.pop_mark(pos)
            target = self.top(pos)
            if isinstance(target, dict):
                target.update(_pairs(items))
        elif name == "ADDITEMS":
            items = self.pop_mark(pos)
            target = self.top(pos)
            if isinstance(target, set):
                target.update(_hashable(v) for v in items)
        elif name in ("NEXT_BUFFER", "READONLY_BUFFER"):
            if name == "NEXT_BUFFER":
                s.append(Call("out-of-band-buffer", ()))
        else:  # literal values: INT, LONG, STRING, BINBYTES, FLOAT, ...
            s.append(arg)

    def skip_joblib_array(self, state: Any, r: _Reader, pos: int) -> None:
        """joblib writes an array's bytes right after the wrapper's BUILD."""
        if not isinstance(state, dict):
            raise Malformed("joblib array wrapper without a state dict", pos)
        shape = state.get("shape")
        itemsize, is_object = _dtype_size(state.get("dtype"))
        if is_object:
            self.nested()
            return
        if not isinstance(shape, tuple) or not all(isinstance(d, int) for d in shape):
            raise Malformed("joblib array wrapper with an unreadable shape", pos)
        if itemsize is None:
            raise Malformed("joblib array wrapper with an unreadable dtype", pos)
        count = 1
        for d in shape:
            count *= d
        if "numpy_array_alignment_bytes" in state:
            (pad,) = struct.unpack("<B", r.exact(1))
            r.skip(pad)
        r.skip(count * itemsize)


def _hashable(v: Any) -> Any:
    try:
        hash(v)
    except TypeError:
        return repr(v)[:100]
    return v


def _pairs(items: list[Any]) -> dict[Any, Any]:
    return {_hashable(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}


_DESCR = re.compile(r"^[<>|=]?([a-zA-Z])(\d*)")


def _dtype_size(dtype: Any) -> tuple[int | None, bool]:
    """Item size of a pickled ``numpy.dtype(descr, ...)`` call, and whether it is object."""
    if not isinstance(dtype, Call) or not isinstance(dtype.args, tuple) or not dtype.args:
        return None, False
    descr = dtype.args[0]
    if not isinstance(descr, str):
        return None, False
    m = _DESCR.match(descr)
    if not m:
        return None, False
    kind, digits = m.group(1), m.group(2)
    if kind == "O":
        return None, True
    if kind == "b" and not digits:
        return 1, False
    if not digits:
        return None, False
    size = int(digits)
    return (size * 4 if kind == "U" else size), False


def looks_like_pickle(head: bytes) -> bool:
    """Whether ``head`` starts like a pickle: ``PROTO 0-5``, or protocol 0/1 opcodes that decode
    to a plausible beginning."""
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return True
    if not head or head[:1] not in (b"(", b"c", b"}", b"]", b")", b"N", b"I", b"S", b"V"):
        return False
    r = _Reader(io.BytesIO(head))
    try:
        for _ in range(4):
            if r.tell() >= len(head):
                break
            op = _OPS.get(r.fp.read(1)[0])
            if op is None:
                return False
            _read_arg(r, op)
    except (Malformed, struct.error, IndexError, UnicodeDecodeError):
        return r.tell() >= len(head) - 1
    return True


def analyze_pickle_stream(
    fp: IO[bytes], policy: ImportPolicy, *, stacked: bool = True
) -> PickleResult:
    """Analyse every pickle in ``fp`` from its current position."""
    result = PickleResult()
    r = _Reader(fp)

    def one() -> tuple[Any, int]:
        machine = _Machine(policy, result, nested)
        try:
            return machine.run(r), machine.imports_seen
        except (Malformed, struct.error, UnicodeDecodeError, OverflowError, ValueError) as exc:
            pos = exc.pos if isinstance(exc, Malformed) else r.tell()
            raise _SegmentError(str(exc), pos, machine.imports_seen) from None

    def nested() -> None:
        one()

    while result.segments < _MAX_SEGMENTS:
        try:
            value, _ = one()
        except _SegmentError as err:
            if result.segments == 0 or err.imports:
                result.malformed = (err.message, err.pos)
            break
        if result.segments == 0 and value == _TORCH_LEGACY_MAGIC:
            result.torch_legacy = True
        result.segments += 1
        if not stacked:
            break
        if not fp.read(1):
            break
        fp.seek(-1, io.SEEK_CUR)
    return result


class _SegmentError(Exception):
    def __init__(self, message: str, pos: int, imports: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.imports = imports
