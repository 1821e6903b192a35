"""What follows once the machine's opcode budget is spent: the rest of the pickle is searched
for imports instead of being interpreted.

A loader has no budget: it reads a padded stream (fifty million ``NONE``/``POP`` pairs, a 50 MB
file) to its end and runs what comes after. Stopping there with a "malformed" medium let such
a payload pass, so past the budget every opcode is still decoded with the same reader, up to
``STOP``, and every import it makes (``GLOBAL``/``INST`` inline, ``STACK_GLOBAL`` from the
last two strings pushed, as literals or from the memo) is judged as invoked: what the stream
then does with it is not followed. A ``STACK_GLOBAL`` whose module or name this search cannot
tell is an import computed at load time. The file is also reported as not checked whole
(``models/archive-limit``, high).

Reference: CPython ``Lib/pickletools.py`` (``genops``), ``Modules/_pickle.c``
(``load_stack_global``, ``load_put``, ``load_get``, ``load_memoize``).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from mlstix.scan.models.pickles.opcodes import OPS, Global, Malformed, Reader, read_arg

if TYPE_CHECKING:
    from mlstix.scan.models.pickles.vm import Machine

__all__ = ["scan_tail"]

_STRINGS = frozenset(["SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING",
                      "BINSTRING", "SHORT_BINSTRING"])  # fmt: skip
_PUTS = frozenset(["PUT", "BINPUT", "LONG_BINPUT"])
_GETS = frozenset(["GET", "BINGET", "LONG_BINGET"])
_NO_PUSH = frozenset(["FRAME", "PROTO", "MARK", "MEMOIZE", *_PUTS])


def scan_tail(m: Machine, r: Reader) -> bool:
    """Search the rest of the current pickle for imports (see the module docstring). True when
    its ``STOP`` was reached (the reader is then after it), False when the stream ended or
    broke first."""
    top: list[Any] = []  # the last two values pushed, as far as this search can tell
    memo: dict[int, Any] = {}
    size = len(m.memo)
    while True:
        pos = r.tell()
        code = r.code()
        op = OPS.get(code) if code is not None else None
        if op is None:
            return False
        try:
            arg = read_arg(r, op)
        except (Malformed, struct.error, UnicodeDecodeError, OverflowError, ValueError):
            return False
        name = op.name
        if name == "STOP":
            return True
        if name in ("GLOBAL", "INST"):
            top.append(_imported(m, arg[0], arg[1], name, pos))
        elif name == "STACK_GLOBAL":
            module, attr = (top[-2], top[-1]) if len(top) >= 2 else (None, None)
            if isinstance(module, str) and isinstance(attr, str) and module:
                top[-2:] = [_imported(m, module, attr, name, pos)]
            else:
                m.result.dynamic.append(("a name the search past the opcode budget cannot tell",
                                         pos))  # fmt: skip
                top[-2:] = [None]
        elif name in _STRINGS:
            top.append(arg if isinstance(arg, str) else None)
        elif name in _PUTS:
            memo[int(arg)] = top[-1] if top else None
        elif name == "MEMOIZE":
            memo[size] = top[-1] if top else None
            size += 1
        elif name in _GETS:
            index = int(arg)
            value = memo[index] if index in memo else m.memo.get(index)
            top.append(value if isinstance(value, str | Global) else None)
        elif name not in _NO_PUSH:
            top.append(None)
        del top[:-2]


def _imported(m: Machine, module: str, attr: str, opcode: str, pos: int) -> Global | None:
    try:
        g = m.import_(module, attr, opcode, pos)
    except Malformed:
        return None
    m.mark(g, ())
    return g
