"""The symbolic pickle machine: interprets opcodes without executing anything.

Literals stay Python values, imports become :class:`Global`, calls become :class:`Call`; the
memo, the stack and MARKs behave as in CPython's ``Lib/pickle.py`` so that ``STACK_GLOBAL``
sees the same module and name the real unpickler would. Every import and every call of an
imported object is recorded in a :class:`PickleResult`.
"""

from __future__ import annotations

import operator
import re
import struct
from collections.abc import Callable
from typing import Any

from mlstix.scan.models.pickles.allowlist import ImportPolicy, normalize
from mlstix.scan.models.pickles.opcodes import (
    OPS,
    BufReader,
    Call,
    Global,
    Malformed,
    Reader,
    read_arg,
)
from mlstix.scan.models.pickles.result import ImportStat, PickleResult, short

__all__ = ["Machine", "dtype_size"]

_MAX_OPS = 50_000_000
_MAX_SEGMENTS = 10_000
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# Fixed-size literal opcodes that come in long runs (lists of weights): (op width, format).
_RUNS = {
    0x47: (9, ">xd", re.compile(rb"(?:G.{8})+", re.DOTALL)),
    0x4B: (2, "<xB", re.compile(rb"(?:K.)+", re.DOTALL)),
    0x4A: (5, "<xi", re.compile(rb"(?:J.{4})+", re.DOTALL)),
}
_first = operator.itemgetter(0)


class Machine:
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
        return self.stack.pop()

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
            st = ImportStat(self.policy.verdict(g.module, g.name), opcode, pos,
                             self.result.segments)  # fmt: skip
            self.result.imports[g.qualname] = st
        st.count += 1
        self.imports_seen += 1
        return g

    def called(self, func: Any, args: Any) -> None:
        if isinstance(func, Call) and self._tainted(func):
            self.result.chains.append(short(Call(func, args)))
            return
        if isinstance(func, Global):
            st = self.result.imports.get(func.qualname)
            if st is not None and not st.called:
                st.called = True
                if st.verdict != "allowed":
                    st.args = short(args)

    def _tainted(self, value: Any, depth: int = 0) -> bool:
        """Whether ``value`` was produced by calling a dangerous or unknown import."""
        if depth > 16:
            return True
        if isinstance(value, Global):
            st = self.result.imports.get(value.qualname)
            return st is not None and st.verdict != "allowed"
        if isinstance(value, Call):
            return self._tainted(value.func, depth + 1)
        return False

    def run(self, r: Reader) -> Any:
        """Interpret opcodes until STOP; return the pickled value."""
        if isinstance(r, BufReader):
            return self.run_fast(r)
        ops = 0
        while True:
            pos = r.tell()
            code = r.code()
            if code is None:
                raise Malformed("truncated: no STOP opcode", pos)
            op = OPS.get(code)
            if op is None:
                raise Malformed(f"unknown opcode 0x{code:02x}", pos)
            ops += 1
            if ops > _MAX_OPS:
                raise Malformed("too many opcodes", pos)
            if self.step(op.name, read_arg(r, op), pos, r):
                return self.stack[-1] if self.stack else None

    def run_fast(self, r: BufReader) -> Any:
        """:meth:`run` over bytes, with the opcodes that make up most of real pickles (numbers,
        short strings, memo, containers) handled inline; the rest goes through :meth:`step`."""
        data, end = r.data, r.end
        unpack = struct.unpack_from
        stack, memo, meta = self.stack, self.memo, self.meta
        pos = r.pos
        ops = 0
        try:
            while True:
                if pos >= end:
                    raise Malformed("truncated: no STOP opcode", pos)
                c = data[pos]
                start = pos
                pos += 1
                ops += 1
                if c in _RUNS:  # BINFLOAT, BININT1, BININT: decode a whole run at once
                    width, fmt, run = _RUNS[c]
                    m = run.match(data, start)
                    if m is None:
                        raise Malformed("truncated number", start)
                    j = m.end()
                    stack.extend(map(_first, struct.iter_unpack(fmt, data[start:j])))
                    ops += (j - start) // width - 1
                    pos = j
                elif c == 0x4D:  # BININT2
                    stack.append(unpack("<H", data, pos)[0])
                    pos += 2
                elif c == 0x8C or c == 0x58:  # SHORT_BINUNICODE, BINUNICODE
                    if c == 0x8C:
                        n = data[pos]
                        pos += 1
                    else:
                        n = unpack("<I", data, pos)[0]
                        pos += 4
                    if pos + n > end:
                        raise Malformed("truncated string", start)
                    stack.append(data[pos : pos + n].decode("utf-8", "surrogatepass"))
                    pos += n
                elif c == 0x71 or c == 0x72:  # BINPUT, LONG_BINPUT
                    if c == 0x71:
                        key = data[pos]
                        pos += 1
                    else:
                        key = unpack("<I", data, pos)[0]
                        pos += 4
                    if not stack:
                        raise Malformed("stack underflow", start)
                    memo[key] = stack[-1]
                elif c == 0x94:  # MEMOIZE
                    if not stack:
                        raise Malformed("stack underflow", start)
                    memo[len(memo)] = stack[-1]
                elif c == 0x68 or c == 0x6A:  # BINGET, LONG_BINGET
                    if c == 0x68:
                        key = data[pos]
                        pos += 1
                    else:
                        key = unpack("<I", data, pos)[0]
                        pos += 4
                    if key not in memo:
                        raise Malformed(f"memo key {key} was never stored", start)
                    stack.append(memo[key])
                elif c == 0x28:  # MARK
                    meta.append(stack)
                    stack = self.stack = []
                elif c == 0x65 or c == 0x75:  # APPENDS, SETITEMS
                    if not meta:
                        raise Malformed("no MARK on the stack", start)
                    items = stack
                    stack = self.stack = meta.pop()
                    if not stack:
                        raise Malformed("stack underflow", start)
                    target = stack[-1]
                    if c == 0x65 and isinstance(target, list):
                        target.extend(items)
                    elif c == 0x75 and isinstance(target, dict):
                        target.update(_pairs(items))
                elif c == 0x61:  # APPEND
                    if len(stack) < 2:
                        raise Malformed("stack underflow", start)
                    v = stack.pop()
                    if isinstance(stack[-1], list):
                        stack[-1].append(v)
                elif c == 0x73:  # SETITEM
                    if len(stack) < 3:
                        raise Malformed("stack underflow", start)
                    v = stack.pop()
                    k = stack.pop()
                    if isinstance(stack[-1], dict):
                        stack[-1][_hashable(k)] = v
                elif c == 0x5D:  # EMPTY_LIST
                    stack.append([])
                elif c == 0x7D:  # EMPTY_DICT
                    stack.append({})
                elif c == 0x29:  # EMPTY_TUPLE
                    stack.append(())
                elif c == 0x4E:  # NONE
                    stack.append(None)
                elif c == 0x88 or c == 0x89:  # NEWTRUE, NEWFALSE
                    stack.append(c == 0x88)
                elif 0x85 <= c <= 0x87:  # TUPLE1..3
                    n = c - 0x84
                    if len(stack) < n:
                        raise Malformed("stack underflow", start)
                    tup = tuple(stack[-n:])
                    del stack[-n:]
                    stack.append(tup)
                elif c == 0x95:  # FRAME
                    pos += 8
                else:
                    op = OPS.get(c)
                    if op is None:
                        raise Malformed(f"unknown opcode 0x{c:02x}", start)
                    r.pos = pos
                    arg = read_arg(r, op)
                    done = self.step(op.name, arg, start, r)
                    pos = r.pos
                    stack, meta = self.stack, self.meta
                    if done:
                        return stack[-1] if stack else None
                if ops > _MAX_OPS:
                    raise Malformed("too many opcodes", start)
        except (IndexError, struct.error):
            raise Malformed("truncated", pos) from None
        finally:
            r.pos = min(pos, end)

    def step(self, name: str, arg: Any, pos: int, r: Reader) -> bool:
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
                text = f"{short(module)} . {short(gname)}"
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

    def skip_joblib_array(self, state: Any, r: Reader, pos: int) -> None:
        """joblib writes an array's bytes right after the wrapper's BUILD."""
        if not isinstance(state, dict):
            raise Malformed("joblib array wrapper without a state dict", pos)
        shape = state.get("shape")
        itemsize, is_object = dtype_size(state.get("dtype"))
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


def dtype_size(dtype: Any) -> tuple[int | None, bool]:
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
