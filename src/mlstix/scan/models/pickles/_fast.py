"""The machine's hot loop over a pickle held in memory.

Most of a real pickle (a state dict, a list of weights) is numbers, short strings, memo
traffic and containers. Those opcodes are decoded inline here, on local variables, with the
same checks and results as :meth:`Machine.step` gives them; runs of fixed-width numbers
(``BINFLOAT``, ``BININT1``, ``BININT``) are decoded a whole run at a time. Every other opcode
(imports, calls, BUILD, FRAME, text opcodes, errors) goes through :meth:`Machine.step`, so the
two paths cannot disagree on anything that matters for the verdict.
"""

from __future__ import annotations

import operator
import re
import struct
from typing import TYPE_CHECKING, Any

from mlstix.scan.models.pickles._state import MAX_OPS
from mlstix.scan.models.pickles.opcodes import OPS, BufReader, Malformed, OverBudget

if TYPE_CHECKING:
    from mlstix.scan.models.pickles.vm import Machine

__all__ = ["run_fast"]

# Fixed-size literal opcodes that come in long runs (lists of weights): (op width, format).
_RUNS = {
    0x47: (9, ">xd", re.compile(rb"(?:G.{8})+", re.DOTALL)),
    0x4B: (2, "<xB", re.compile(rb"(?:K.)+", re.DOTALL)),
    0x4A: (5, "<xi", re.compile(rb"(?:J.{4})+", re.DOTALL)),
}
_first = operator.itemgetter(0)


def run_fast(m: Machine, r: BufReader) -> Any:
    """:meth:`Machine.run` over bytes, with the opcodes that make up most of real pickles
    (numbers, short strings, memo, containers) handled inline; the rest goes through
    :meth:`Machine.step`."""
    data, end = r.data, r.end
    unpack = struct.unpack_from
    stack, memo, meta = m.stack, m.memo, m.meta
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
                match = run.match(data, start)
                if match is None:
                    raise Malformed("truncated number", start)
                j = match.end()
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
                stack = m.stack = []
            elif (c == 0x65 or c == 0x75) and meta and _batch(c, meta[-1], stack):
                stack = m.stack = meta.pop()  # APPENDS, SETITEMS onto a list, a dict
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
                arg = m.read(r, op, start, data)
                done = m.step(op.name, arg, start, r)
                pos = r.pos
                stack, meta = m.stack, m.meta
                if done:
                    return stack[-1] if stack else None
            if start < m.frame_end < pos:
                _straddle_run(m, c, start, pos, data)
            if ops > MAX_OPS:
                raise OverBudget("too many opcodes", pos)
    except (IndexError, struct.error):
        raise Malformed("truncated", pos) from None
    finally:
        r.pos = min(pos, end)


def _straddle_run(m: Machine, c: int, start: int, end: int, data: bytes) -> None:
    if c in _RUNS:  # a run of fixed-width opcodes: only a read may not cross the frame end
        width = _RUNS[c][0]
        if (m.frame_end - start) % width in (0, 1):
            return
        start += (m.frame_end - start) // width * width
    m.straddles(start, end, data)


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
