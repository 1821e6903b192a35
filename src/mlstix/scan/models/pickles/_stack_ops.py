"""The opcodes that only move values: literals, the memo, the stack and the containers.

``PUT``/``GET``/``MEMOIZE``, ``POP``/``DUP``/``POP_MARK``, the empty containers, ``TUPLE1-3``
and the MARK-delimited ``TUPLE``/``LIST``/``DICT``/``FROZENSET``, and the in-place
``APPEND(S)``/``SETITEM(S)``/``ADDITEMS``, with the checks CPython's C unpickler makes (an odd
item count, an unhashable key, a target without ``append``/``add``/``__setitem__``): on a
concrete value the stream fails here where the real loader would fail; on a symbolic one the
check cannot be decided and the analysis goes on (see :mod:`._values`). Containers built from
literals stay real Python containers; items stored into a symbolic object (an ``OrderedDict``,
a ``deque`` the stream built) are kept beside it (:meth:`State.hold`). Out-of-band buffers
(``NEXT_BUFFER``) are refused: no loader passes any.

Reference: CPython ``Modules/_pickle.c`` (``load_put``, ``load_appends``, ``do_setitems``,
``load_additems``, ``load_readonly_buffer``).
"""

from __future__ import annotations

from typing import Any

from mlstix.scan.models.pickles import _values as val
from mlstix.scan.models.pickles._state import State
from mlstix.scan.models.pickles.opcodes import Call, Global, Malformed
from mlstix.scan.models.pickles.result import short

__all__ = ["StackOps"]


class StackOps(State):
    """Stack, memo and container opcodes, mixed into the machine."""

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
            elif not val.concrete(target):
                self.inserted(target, items, name, pos)
        elif name in ("SETITEM", "SETITEMS"):
            if name == "SETITEM":
                value = self.pop(pos)
                items = [self.pop(pos), value]
            else:
                items = self.pop_mark(pos)
            target = self.top(pos)
            if items:  # CPython: nothing to do, no check
                self._setitems(target, items, pos, name)
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
            elif not val.concrete(target):
                self.inserted(target, items, name, pos)
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

    def _setitems(self, target: Any, items: list[Any], pos: int, opcode: str) -> None:
        if len(items) % 2:
            raise Malformed("odd number of items for SETITEMS", pos)
        if _tensor(target) and len(self.result.chains) < 20:
            self.result.chains.append(
                f"item assignment into {short(target)} (a tensor written through SETITEM: "
                "memory corruption in torch.load(weights_only=True) before 2.10, "
                "CVE-2026-24747)"
            )
        for i in range(0, len(items), 2):
            if not val.setitem_ok(target, items[i], items[i + 1]):
                raise Malformed("SETITEM on a value that does not take this item", pos)
            if isinstance(target, dict):
                target[val.key(items[i])] = items[i + 1]
            elif isinstance(target, list):
                target[items[i]] = items[i + 1]
        if not val.concrete(target):  # an OrderedDict, a defaultdict: it holds keys and values
            self.inserted(target, items, opcode, pos)


_TENSORS = ("torch._utils._rebuild_", "torch._tensor._rebuild_", "torch.Tensor",
            "torch.nn.parameter.")  # fmt: skip


def _tensor(target: Any) -> bool:
    """A tensor or parameter built by the stream (torch's rebuild functions)."""
    return (
        isinstance(target, Call)
        and isinstance(target.func, Global)
        and target.func.qualname.startswith(_TENSORS)
    )
