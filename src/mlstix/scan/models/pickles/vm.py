"""The symbolic pickle machine: interprets opcodes without executing anything.

Literals stay Python values, imports become :class:`Global`, calls become :class:`Call`; the
memo, the stack and MARKs behave as in CPython's ``Lib/pickle.py`` so that ``STACK_GLOBAL``
sees the same module and name the real unpickler would. Every import and every call of an
imported object is recorded in a :class:`PickleResult`.

This module holds the opcode dispatch (:meth:`Machine.run`, :meth:`Machine.step`); the machine
is put together from:

- :mod:`._state`: the stack, MARKs, memo and FRAME end, underflow checks, soft errors and reads
  that cross a FRAME;
- :mod:`._calls`: imports judged by the policy, calls recorded, getattr chains resolved, BUILD
  (with joblib's raw arrays skipped, :mod:`._joblib`);
- :mod:`._stack_ops`: literals, memo, stack and container opcodes;
- :mod:`._fast`: the hot loop over a pickle held in memory.
"""

from __future__ import annotations

from typing import Any

from mlstix.scan.models.pickles import _values as val
from mlstix.scan.models.pickles._calls import Calls
from mlstix.scan.models.pickles._fast import run_fast
from mlstix.scan.models.pickles._joblib import dtype_size
from mlstix.scan.models.pickles._pyview import REFUSED, python_view
from mlstix.scan.models.pickles._stack_ops import StackOps
from mlstix.scan.models.pickles._state import MAX_OPS
from mlstix.scan.models.pickles.opcodes import (
    OPS,
    BufReader,
    Call,
    Global,
    Malformed,
    OverBudget,
    Reader,
    read_arg,
)
from mlstix.scan.models.pickles.result import short

__all__ = ["Machine", "dtype_size"]

_HIGHEST_PROTOCOL = 5
_MAX_IDS = 1 << 20


class Machine(Calls, StackOps):
    """Symbolic execution of one pickle (until STOP)."""

    def run(self, r: Reader) -> Any:
        """Interpret opcodes until STOP; return the pickled value."""
        if isinstance(r, BufReader):
            return run_fast(self, r)
        ops = 0
        while True:
            pos = r.tell()
            ops += 1
            if ops > MAX_OPS:
                raise OverBudget("too many opcodes", pos)
            code = r.code()
            if code is None:
                raise Malformed("truncated: no STOP opcode", pos)
            op = OPS.get(code)
            if op is None:
                raise Malformed(f"unknown opcode 0x{code:02x}", pos)
            done = self.step(op.name, self.read(r, op, pos), pos, r)
            self.straddles(pos, r.tell())
            if done:
                return self.stack[-1]

    def read(self, r: Reader, op: Any, pos: int, data: bytes | None = None) -> Any:
        """An opcode's argument; one the reader refuses after crossing the FRAME end is still
        a read the loaders disagree on (the other view reads other bytes there). Where
        ``_pickle`` refuses a text argument, the pure-Python unpickler's reading
        (:mod:`._pyview`) is followed."""
        here = r.tell()
        try:
            return read_arg(r, op)
        except Malformed:
            self.straddles(pos, r.tell(), data)
            failed = r.tell()
            value = python_view(self, r, op.name, pos, here)
            if value is REFUSED:
                r.seek(failed)
                raise
            return value

    def step(self, name: str, arg: Any, pos: int, r: Reader) -> bool:
        """One opcode: control (STOP, PROTO, FRAME, MARK), imports, calls and BUILD here, the
        rest in :meth:`StackOps.simple`. True at STOP."""
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
            self.frame(arg, pos, r.tell(), r.end)
            return False
        if name == "MARK":
            self.meta.append(s)
            self.stack = []
        elif name in ("GLOBAL", "INST"):
            module, gname = arg
            # pickle._Unpickler (joblib.load's) imports before it looks for the MARK
            g = self.import_(module, gname, name, pos)
            if name == "INST" and not self.meta:
                raise Malformed("could not find MARK", pos)
            if name == "INST":
                args = tuple(self.pop_mark(pos))
                self.stack.append(self.invoke(g, args, pos))
            else:
                s.append(g)
        elif name == "STACK_GLOBAL":
            gname = self.pop(pos)
            module = self.pop(pos)
            m_outer, n_outer = self.from_outer(module, pos), self.from_outer(gname, pos)
            outer = m_outer or n_outer
            if isinstance(module, str) and isinstance(gname, str):
                # a module fetched from the outer memo with its own attribute name: what a
                # real dump makes of whatever the memo holds (State.lenient_memo); an
                # attribute name fetched from it: chosen (no dump joblib wrote was seen to)
                lenient = m_outer and not n_outer and self.lenient_memo(module, gname)
                s.append(self.import_(module, gname, name, pos, lenient))
            elif not (self._str_like(module) and self._str_like(gname)):
                raise Malformed("STACK_GLOBAL requires str", pos)
            elif outer:  # the plain view's reading of a nested pickle: no name it would import
                self.soft("an import name computed at load time", pos)
                s.append(Call("dynamic-import", (module, gname)))
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
            self.check_call(func, args, "REDUCE", pos)
            s.append(self.invoke(func, args, pos))
        elif name == "NEWOBJ":
            args = self.pop(pos)
            cls = self.pop(pos)
            self.check_call(cls, args, "NEWOBJ", pos)
            s.append(self.invoke(cls, args, pos))
        elif name == "NEWOBJ_EX":
            kwargs = self.pop(pos)
            args = self.pop(pos)
            cls = self.pop(pos)
            self.check_call(cls, args, "NEWOBJ_EX", pos)
            if val.concrete(kwargs) and not isinstance(kwargs, dict):
                raise Malformed("NEWOBJ_EX kwargs argument should be a dict", pos)
            result = self.invoke(cls, (args, kwargs), pos)
            s.append(Call(cls, args) if isinstance(result, Call) else result)
        elif name == "OBJ":
            items = self.pop_mark(pos)
            if not items:
                raise Malformed("unpickling stack underflow at OBJ", pos)
            self.check_call(items[0], (), "OBJ", pos)
            self.stack.append(self.invoke(items[0], tuple(items[1:]), pos))
        elif name == "BUILD":
            state = self.pop(pos)
            self.build(self.top(pos), state, pos, r)
            if self.nested_at and r.tell() in self.nested_at:
                self.enter_nested(self.nested_at[r.tell()])
        elif name in ("PERSID", "BINPERSID"):
            pid = arg if name == "PERSID" else self.pop(pos)
            res, ids = self.result, self.result.persistent_ids
            legacy = res.torch_legacy and res.segments == 3  # the legacy object pickle
            if (legacy or res.segments == 0) and len(ids) < _MAX_IDS:
                ids.append(pid)  # the storages a torch checkpoint's pickle names
            s.append(Call("persistent_load", pid))
        else:
            self.simple(name, arg, pos)
        return False

    def _str_like(self, value: Any) -> bool:
        """Whether ``value`` may be a ``str`` for STACK_GLOBAL: a string, or a symbolic value
        other than an allowlisted name (those are classes and functions, never strings)."""
        if isinstance(value, Global):
            return self.policy.verdict(value.module, value.name) != "allowed"
        return isinstance(value, str) or not val.concrete(value)
