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

from mlstix.scan.models.pickles import _values as val
from mlstix.scan.models.pickles._commands import command_like, strings
from mlstix.scan.models.pickles.allowlist import CONSTRUCTS_FIRST_ARG, ImportPolicy, normalize
from mlstix.scan.models.pickles.opcodes import (
    _SIZED,
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
_HIGHEST_PROTOCOL = 5
_GETATTR = "builtins.getattr"
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
        self.frame_end = -1  # end offset of the current FRAME

    def straddles(self, start: int, end: int, data: bytes | None = None) -> None:
        """A read that crosses the end of its FRAME: CPython reading a file without ``peek``
        (``io.BytesIO``, what ``torch.load`` hands its unpickler) drops the rest of the frame
        and reads on from the file, ``pickle.loads`` reads on in the buffer, and the Python
        unpickler refuses: loaders disagree on what the stream says."""
        fe = self.frame_end
        if not start < fe < end or fe in _read_bounds(start, data):
            return
        self.result.frame_straddle = True
        self.soft("a read crosses the end of its FRAME (loaders read it differently)", start)

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
            st.resolver = g.qualname == _GETATTR
            self.result.imports[g.qualname] = st
        st.count += 1
        self.imports_seen += 1
        return g

    def soft(self, reason: str, pos: int) -> None:
        """The analysis cannot follow what the real unpickler does here (it depends on what an
        import really is): an error for the file, and the analysis goes on."""
        if self.result.malformed is None:
            self.result.malformed = (f"cannot follow the stream: {reason}", pos)

    def invoke(self, func: Any, args: Any, pos: int) -> Any:
        """``func(*args)`` as REDUCE, NEWOBJ, OBJ and INST do it (BUILD: ``__setstate__``):
        record what is invoked; return the value it leaves on the stack."""
        if isinstance(func, Global):
            if func.qualname == _GETATTR:
                resolved = self._getattr(args, pos)
                if resolved is not None:
                    return resolved
            self.mark(func, args)
            first = args[0] if isinstance(args, tuple) and args else None
            if func.qualname in CONSTRUCTS_FIRST_ARG and isinstance(first, Global):
                self.mark(first, args[1:])  # copyreg._reconstructor(cls, ...): cls is built
        elif isinstance(func, Call):
            self._invoke_result(func, args)
        return Call(func, args)

    def _getattr(self, args: Any, pos: int) -> Global | None:
        """``getattr(imported, 'attr')``: the attribute path ``find_class`` would resolve,
        judged as an import of its own (``zoneinfo.ZoneInfo._unpickle``); ``getattr(instance,
        'method')`` on an instance of an allowlisted class: the bound method, judged by
        :meth:`ImportPolicy.method_verdict`."""
        if not (isinstance(args, tuple) and len(args) == 2 and isinstance(args[1], str)):
            return None
        target, attr = args
        if not attr:
            return None
        if isinstance(target, Global):
            return self.import_(target.module, f"{target.name}.{attr}", "getattr", pos)
        cls = instance_class(target)
        if cls is None or self.policy.verdict(cls.module, cls.name) != "allowed":
            return None  # getattr on anything else stays a dangerous call
        g = Global(cls.module, f"{cls.name}.<instance>.{attr}")
        if g.qualname not in self.result.imports:
            verdict = self.policy.method_verdict(cls.module, cls.name, attr)
            st = ImportStat(verdict, "getattr", pos, self.result.segments)
            self.result.imports[g.qualname] = st
        self.result.imports[g.qualname].count += 1
        return g

    def mark(self, g: Global, args: Any) -> None:
        st = self.result.imports.get(g.qualname)
        if st is None:
            return
        if st.resolver:
            st.misused = True
        if st.called:
            return
        st.called = True
        if st.verdict != "allowed":
            st.args = short(args)
            st.command = any(command_like(t) for t in strings(args))

    def _invoke_result(self, func: Call, args: Any) -> None:
        """Calling what a call returned (a partial, a getattr result, a constructed object):
        every non-allowlisted import inside it may be what runs."""
        found: list[Global] = []
        _globals(func, found, 0)
        risky = False
        for g in found:
            st = self.result.imports.get(g.qualname)
            if st is not None and (st.verdict != "allowed" or st.resolver):
                self.mark(g, args)
                risky = True
        if risky and len(self.result.chains) < 20:
            self.result.chains.append(short(Call(func, args)))

    def build(self, obj: Any, state: Any, pos: int, r: Reader) -> None:
        """BUILD: ``obj.__setstate__(state)``, or its ``__dict__`` updated."""
        if val.concrete(obj):
            # no __setstate__ and no __dict__ on literal values: only an empty state passes
            slot = state[1] if isinstance(state, tuple) and len(state) == 2 else None
            inner = state[0] if isinstance(state, tuple) and len(state) == 2 else state
            if inner is not None or slot not in (None, {}):
                raise Malformed("BUILD on a value without __setstate__ or __dict__", pos)
            return
        if isinstance(obj, Global):
            self.mark(obj, state)
            return
        cls = instance_class(obj)
        if cls is not None:
            self.mark(cls, state)
            if cls.name.endswith("NumpyArrayWrapper"):
                self.skip_joblib_array(state, r, pos)
        elif isinstance(obj.func, Call):
            self._invoke_result(obj.func, state)

    def _straddle_run(self, c: int, start: int, end: int, data: bytes) -> None:
        if c in _RUNS:  # a run of fixed-width opcodes: only a read may not cross the frame end
            width = _RUNS[c][0]
            if (self.frame_end - start) % width in (0, 1):
                return
            start += (self.frame_end - start) // width * width
        self.straddles(start, end, data)

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
            done = self.step(op.name, read_arg(r, op), pos, r)
            self.straddles(pos, r.tell())
            if done:
                return self.stack[-1]

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
                        raise Malformed(f"memo value not found at index {key}", start)
                    stack.append(memo[key])
                elif c == 0x28:  # MARK
                    meta.append(stack)
                    stack = self.stack = []
                elif (c == 0x65 or c == 0x75) and meta and _batch(c, meta[-1], stack):
                    stack = self.stack = meta.pop()  # APPENDS, SETITEMS onto a list, a dict
                elif c == 0x61 and len(stack) >= 2 and type(stack[-2]) is list:  # APPEND
                    stack[-2].append(stack.pop())
                elif c == 0x73 and len(stack) >= 3 and _setitem(stack):  # SETITEM
                    del stack[-2:]
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
                if start < self.frame_end < pos:
                    self._straddle_run(c, start, pos, data)
                if ops > _MAX_OPS:
                    raise Malformed("too many opcodes", start)
        except (IndexError, struct.error):
            raise Malformed("truncated", pos) from None
        finally:
            r.pos = min(pos, end)

    def step(self, name: str, arg: Any, pos: int, r: Reader) -> bool:
        s = self.stack
        if name == "STOP":
            if not s:
                raise Malformed("unpickling stack underflow at STOP", pos)
            return True
        if name == "PROTO":
            if arg > _HIGHEST_PROTOCOL:
                raise Malformed(f"unsupported pickle protocol: {arg}", pos)
            return False
        if name == "FRAME":
            if arg > r.end - r.tell():
                raise Malformed("FRAME longer than the data that follows", pos)
            if pos < self.frame_end:
                self.soft("a FRAME starts before the previous one ends", pos)
            self.frame_end = r.tell() + arg
            return False
        if name == "MARK":
            self.meta.append(s)
            self.stack = []
        elif name in ("GLOBAL", "INST"):
            if name == "INST" and not self.meta:
                raise Malformed("could not find MARK", pos)
            module, _, gname = str(arg).partition(" ")
            g = self.import_(module, gname, name, pos)
            if name == "INST":
                args = tuple(self.pop_mark(pos))
                self.stack.append(self.invoke(g, args, pos))
            else:
                s.append(g)
        elif name == "STACK_GLOBAL":
            gname = self.pop(pos)
            module = self.pop(pos)
            if isinstance(module, str) and isinstance(gname, str):
                s.append(self.import_(module, gname, name, pos))
            elif val.concrete(module) and val.concrete(gname):
                raise Malformed("STACK_GLOBAL requires str", pos)
            else:
                text = f"{short(module)} . {short(gname)}"
                self.result.dynamic.append((text, pos))
                self.soft("an import name computed at load time", pos)
                s.append(Call("dynamic-import", (module, gname)))
        elif name in ("EXT1", "EXT2", "EXT4"):
            if int(arg) <= 0:
                raise Malformed("EXT specifies code <= 0", pos)
            self.result.extensions.append((int(arg), pos))
            self.soft(f"extension code {arg} (copyreg registry of the loading process)", pos)
            s.append(Call("extension", int(arg)))
        elif name == "REDUCE":
            args = self.pop(pos)
            func = self.pop(pos)
            self._check_call(func, args, "REDUCE", pos)
            s.append(self.invoke(func, args, pos))
        elif name == "NEWOBJ":
            args = self.pop(pos)
            cls = self.pop(pos)
            self._check_call(cls, args, "NEWOBJ", pos)
            s.append(self.invoke(cls, args, pos))
        elif name == "NEWOBJ_EX":
            kwargs = self.pop(pos)
            args = self.pop(pos)
            cls = self.pop(pos)
            self._check_call(cls, args, "NEWOBJ_EX", pos)
            if val.concrete(kwargs) and not isinstance(kwargs, dict):
                raise Malformed("NEWOBJ_EX kwargs argument should be a dict", pos)
            result = self.invoke(cls, (args, kwargs), pos)
            s.append(Call(cls, args) if isinstance(result, Call) else result)
        elif name == "OBJ":
            items = self.pop_mark(pos)
            if not items:
                raise Malformed("unpickling stack underflow at OBJ", pos)
            self._check_call(items[0], (), "OBJ", pos)
            self.stack.append(self.invoke(items[0], tuple(items[1:]), pos))
        elif name == "BUILD":
            state = self.pop(pos)
            self.build(self.top(pos), state, pos, r)
        elif name in ("PERSID", "BINPERSID"):
            pid = arg if name == "PERSID" else self.pop(pos)
            s.append(Call("persistent_load", pid))
        else:
            self.simple(name, arg, pos)
        return False

    def _check_call(self, func: Any, args: Any, opcode: str, pos: int) -> None:
        """What CPython checks before it calls: a callable (a class for NEWOBJ), and an
        argument tuple."""
        if not val.callable_value(func):
            raise Malformed(f"{opcode} on a value that cannot be called", pos)
        if not isinstance(args, tuple):
            if val.concrete(args):
                raise Malformed(f"{opcode} argument list must be a tuple", pos)
            self.soft(f"{opcode} with an argument tuple computed at load time", pos)

    def simple(self, name: str, arg: Any, pos: int) -> None:
        s = self.stack
        if name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[int(arg)] = self.top(pos)
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.top(pos)
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if int(arg) not in self.memo:
                raise Malformed(f"memo value not found at index {arg}", pos)
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
        elif name in ("TUPLE", "LIST", "DICT", "FROZENSET"):
            items = self.pop_mark(pos)
            self.stack.append(self._collection(name, items, pos))
        elif name in ("APPEND", "APPENDS"):
            items = [self.pop(pos)] if name == "APPEND" else self.pop_mark(pos)
            target = self.top(pos)
            if not items:
                return  # CPython: nothing to do, no check
            if not val.appendable(target, items):
                raise Malformed(f"{name} onto a value without append", pos)
            if isinstance(target, list):
                target.extend(items)
        elif name in ("SETITEM", "SETITEMS"):
            if name == "SETITEM":
                value = self.pop(pos)
                items = [self.pop(pos), value]
            else:
                items = self.pop_mark(pos)
            target = self.top(pos)
            if items:  # CPython: nothing to do, no check
                self._setitems(target, items, pos)
        elif name == "ADDITEMS":
            items = self.pop_mark(pos)
            target = self.top(pos)
            if not items:
                return  # CPython: nothing to do, no check
            if val.concrete(target) and not isinstance(target, set):
                raise Malformed("ADDITEMS onto a value without add", pos)
            keys = self._keys(items, pos)
            if isinstance(target, set):
                target.update(keys)
        elif name == "NEXT_BUFFER":
            raise Malformed("out-of-band buffer, and no loader passes buffers", pos)
        elif name == "READONLY_BUFFER":
            top = self.top(pos)
            if val.concrete(top) and not val.buffer_like(top):
                raise Malformed("READONLY_BUFFER on a value without the buffer protocol", pos)
            if not val.concrete(top):
                self.soft("READONLY_BUFFER on an object built at load time", pos)
        else:  # literal values: INT, LONG, STRING, BINBYTES, FLOAT, ...
            s.append(arg)

    def _collection(self, name: str, items: list[Any], pos: int) -> Any:
        if name == "TUPLE":
            return tuple(items)
        if name == "LIST":
            return items
        if name == "FROZENSET":
            return frozenset(self._keys(items, pos))
        try:
            return val.pairs(items)
        except (ValueError, TypeError) as exc:
            raise Malformed(str(exc), pos) from None

    def _keys(self, items: list[Any], pos: int) -> list[Any]:
        try:
            return [val.key(i) for i in items]
        except TypeError:
            raise Malformed("unhashable set item", pos) from None

    def _setitems(self, target: Any, items: list[Any], pos: int) -> None:
        if len(items) % 2:
            raise Malformed("odd number of items for SETITEMS", pos)
        for i in range(0, len(items), 2):
            if not val.setitem_ok(target, items[i], items[i + 1]):
                raise Malformed("SETITEM on a value that does not take this item", pos)
            if isinstance(target, dict):
                target[val.key(items[i])] = items[i + 1]
            elif isinstance(target, list):
                target[items[i]] = items[i + 1]

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


_WIDTH = {"long1": 1, "long4": 4, **{k: w for k, (w, _) in _SIZED.items()}}


def _read_bounds(start: int, data: bytes | None) -> tuple[int, ...]:
    """Where the C unpickler's separate reads of one opcode begin: after the opcode byte,
    after a length field, after the first of two text lines."""
    after_op = start + 1
    if data is None:
        return (after_op,)
    arg = OPS[data[start]].arg
    if arg is None:
        return (after_op,)
    if arg.name in _WIDTH:
        return (after_op, after_op + _WIDTH[arg.name])
    if arg.name == "stringnl_noescape_pair":
        return (after_op, data.find(b"\n", after_op) + 1)
    return (after_op,)


def instance_class(value: Any) -> Global | None:
    """The class of what a call built: the class called, or the class handed to a known
    constructor function (``copyreg._reconstructor(cls, ...)``)."""
    if not isinstance(value, Call) or not isinstance(value.func, Global):
        return None
    func = value.func
    if func.qualname in CONSTRUCTS_FIRST_ARG and isinstance(value.args, tuple) and value.args:
        first = value.args[0]
        return first if isinstance(first, Global) else None
    return func


def _batch(c: int, below: list[Any], items: list[Any]) -> bool:
    """APPENDS/SETITEMS onto a plain list or dict, done inline; False: the careful path."""
    if not below:
        return False
    target = below[-1]
    if c == 0x65 and type(target) is list:
        target.extend(items)
        return True
    if c == 0x75 and type(target) is dict and not len(items) % 2:
        try:
            target.update(zip(items[::2], items[1::2], strict=True))
        except TypeError:  # an unhashable key
            return False
        return True
    return False


def _setitem(stack: list[Any]) -> bool:
    target = stack[-3]
    if type(target) is not dict:
        return False
    try:
        target[stack[-2]] = stack[-1]
    except TypeError:
        return False
    return True


def _globals(value: Any, out: list[Global], depth: int) -> None:
    """The imports inside a symbolic value (bounded)."""
    if depth > 8 or len(out) > 64:
        return
    if isinstance(value, Global):
        out.append(value)
    elif isinstance(value, Call):
        _globals(value.func, out, depth + 1)
        _globals(value.args, out, depth + 1)
    elif isinstance(value, tuple | list):
        for item in value[:32]:
            _globals(item, out, depth + 1)
    elif isinstance(value, dict):
        for item in list(value.values())[:32]:
            _globals(item, out, depth + 1)


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
