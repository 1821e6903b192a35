"""Where ``_pickle`` refuses an opcode's text argument, what the pure-Python unpickler does.

``pickle._Unpickler`` is not a curiosity: ``joblib.load`` is built on it. It parses text
arguments with ``int()``/``float()`` (underscores, surrounding whitespace), imports an INST's
class before it looks for the MARK, and reads a last line without its newline at the end of
the file, dropping the last character (``readline()[:-1]``): ``ios\\nsystem.`` at the end of a
file is ``os.system`` to it, called with the MARK's items. So where ``_pickle`` stops, the
analysis records what the Python unpickler imports and calls there, and goes on with its value
(the file stays an error: the C unpickler refuses it).

Reference: CPython ``Lib/pickle.py`` (``_Unframer.readline``, ``load_inst``, ``load_global``,
``load_int``/``load_float``/... ).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlstix.scan.models.pickles._text import python_text_value
from mlstix.scan.models.pickles.opcodes import Malformed, Reader

if TYPE_CHECKING:
    from mlstix.scan.models.pickles.vm import Machine

__all__ = ["REFUSED", "python_view"]

REFUSED = object()
_TEXT = frozenset(["INT", "LONG", "FLOAT", "STRING", "UNICODE", "PUT", "GET", "PERSID"])
_MAX_NAME = 1 << 16


def python_view(m: Machine, r: Reader, opname: str, pos: int, here: int) -> Any:
    """The argument the Python unpickler reads at ``here`` (after the opcode byte at ``pos``),
    or :data:`REFUSED`; GLOBAL and INST are carried out here (import, and INST's call)."""
    if opname in ("GLOBAL", "INST"):
        _import(m, r, opname, pos, here)
        return REFUSED
    if opname not in _TEXT:
        return REFUSED
    r.seek(here)
    try:
        line = r.line()
        value = python_text_value(opname, line)
    except (Malformed, ValueError):
        return REFUSED
    m.soft(f"{opname} argument {line[:40]!r} that only pickle._Unpickler (joblib.load) reads", pos)
    return value


def _import(m: Machine, r: Reader, opname: str, pos: int, here: int) -> None:
    r.seek(here)
    parts = r.rest(2 * _MAX_NAME).split(b"\n", 2)
    in_frame = here < m.frame_end  # _Unframer refuses a partial line inside a frame
    if len(parts) == 3:
        module, name = parts[0], parts[1]
    elif len(parts) == 2 and not in_frame:
        module, name = parts[0], parts[1][:-1]  # the last line, at the end of the file
    elif len(parts) == 1 and not in_frame:
        module, name = parts[0][:-1], b""
    else:
        return
    codec = "ascii" if opname == "INST" else "utf-8"
    try:
        mod, attr = module.decode(codec), name.decode(codec)
    except UnicodeDecodeError:
        return
    if not mod:
        return  # __import__('') raises before importing anything
    g = m.import_(mod, attr, opname, pos)
    if opname == "INST" and attr and m.meta:
        m.invoke(g, tuple(m.pop_mark(pos)), pos)
