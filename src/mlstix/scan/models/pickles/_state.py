"""What the symbolic pickle machine holds, and the checks every opcode handler shares.

The stack, the MARK stack (``meta``: the stacks a MARK set aside, as CPython's ``metastack``),
the memo and the end of the current FRAME, with CPython's underflow checks (``pop``,
``pop_mark``, ``top``). Two ways a stream can defeat a faithful reading are detected here:

- a *soft* error (:meth:`State.soft`): what the real unpickler does depends on what an import
  really is, so the file is reported as not followable and the analysis goes on;
- a read that crosses the end of its FRAME (:meth:`State.straddles`): the C unpickler reading a
  file without ``peek`` (``io.BytesIO``, what ``torch.load`` hands it) drops the rest of the
  frame, ``pickle.loads`` reads on in the buffer, and the Python unpickler refuses.

Reference: CPython ``Modules/_pickle.c`` (``_Unpickler_ReadImpl``, ``Pdata_pop``,
``marker``) and ``Lib/pickle.py`` (``_Unframer``).
"""

from __future__ import annotations

import builtins
import collections
import copy
import copyreg
import functools
import operator
import sys
import types
from collections.abc import Callable
from typing import Any

from mlstix.scan.models.pickles._joblib import JoblibArrays
from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.opcodes import _SIZED, OPS, Malformed
from mlstix.scan.models.pickles.result import PickleResult

__all__ = ["MAX_OPS", "State"]

MAX_OPS = 50_000_000  # opcodes interpreted per pickle before the stream is called malformed
_NEVER = 1 << 62
_MAX_HELD = 1 << 20  # items followed per symbolic container (past it: not checked)
_WIDTH = {"long1": 1, "long4": 4, **{k: w for k, (w, _) in _SIZED.items()}}


class State:
    """The machine's state for one pickle (until STOP), and the checks on it."""

    def __init__(
        self,
        policy: ImportPolicy,
        result: PickleResult,
        nested: Callable[[], None],
        *,
        joblib: bool = True,
    ) -> None:
        self.policy = policy
        self.joblib = joblib  # read arrays after joblib's wrapper BUILDs, as joblib.load does
        self.arrays = JoblibArrays()
        self.partials: dict[int, tuple[Any, Any, Any]] = {}  # functools.partial's set state
        # what SETITEM(S), APPEND(S) and ADDITEMS put into objects the stream built (an
        # OrderedDict, a deque, a set subclass), and the instance of each bound method
        # resolved by getattr: by id, the object kept alive beside what it holds
        self.held: dict[int, tuple[Any, list[Any]]] = {}
        self.bound: dict[int, tuple[Any, Any]] = {}
        self.attrs: dict[int, tuple[Any, dict[Any, Any]]] = {}  # what BUILD states set
        self.kept: list[tuple[Any, Any, Any]] = []  # allowlisted owners and what they keep
        self.kept_budget = [1 << 24]  # items left to look at for what objects keep (_kept)
        self.kept_reported = False
        self.held_reported = False
        self.walked = 0  # values visited looking into what is called (bounded per pickle)
        self.here = 0  # the offset of the call or BUILD being followed
        self.result = result
        self.nested = nested  # analyse a nested pickle at the current stream position
        self.stack: list[Any] = []
        self.meta: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.imports_seen = 0
        self.frame_end = -1  # end offset of the current FRAME
        # the plain-pickle view of a joblib file (see :meth:`read_as_plain_view`)
        self.plain_from = _NEVER
        self.nested_at: dict[int, int] = {}
        self.confused_until = -1
        self.outer: list[Any] = []
        self.outer_ids: set[int] = set()
        self.outer_index: dict[int, int] = {}  # id of an outer memo string -> its index
        self.nested_base = 0  # memo size where the nested pickle began

    def read_as_plain_view(self, since: int, nested_at: dict[int, int]) -> None:
        """This machine reads a joblib file as ``pickle.load`` does: from ``since`` (where
        ``joblib.load`` read its first array) on, it reads array bytes as opcodes.
        ``nested_at``: where joblib read an object array's nested pickle (start -> end)."""
        self.plain_from, self.nested_at = since, nested_at

    def enter_nested(self, end: int) -> None:
        """The plain view reaches an object array's nested pickle at its start. It reads it
        against the outer memo (joblib reads it with a fresh one): a memo index the nested
        pickle means for its own value fetches what the outer pickle stored there. A name
        whose module is such a value and whose attribute is not, up to ``end``, is
        *confused* (:meth:`from_outer`): it may not exist at all."""
        self.confused_until = end
        for index, value in self.memo.items():
            if type(value) is str:
                self.memo[index] = _Outer(value)
        self.outer = list(self.memo.values())  # kept alive: their ids stay theirs
        self.outer_ids = {id(v) for v in self.outer}
        self.outer_index = {id(v): i for i, v in self.memo.items() if type(v) is _Outer}
        self.nested_base = len(self.memo)

    def lenient_memo(self, module: Any, name: str) -> bool:
        """Whether a name whose module the plain view fetched from the outer memo (GET ``k``)
        and whose attribute is the nested pickle's own is what a real dump makes: the module
        the nested pickle meant (its own ``k``-th memoized value, at ``nested_base + k`` in
        the shared memo) with that attribute is an allowlisted pair, and the module fetched
        instead is no standard-library module, or one certainly without that attribute
        (standard modules exist in every process, so the import resolves whenever the
        attribute does: ``copy`` fetched where the dump meant ``numpy.core.multiarray`` makes
        ``copy._reconstruct``, which calls its argument; ``collections.dtype`` fails)."""
        k = self.outer_index.get(id(module))
        if k is None or not isinstance(module, str):
            return False
        meant = self.memo.get(self.nested_base + k)
        if type(meant) is not str or self.policy.verdict(meant, name) != "allowed":
            return False
        if module.split(".", 1)[0] not in sys.stdlib_module_names:
            return True
        return _lacks(module, name)

    def from_outer(self, value: Any, pos: int) -> bool:
        """Whether ``value``, used at ``pos`` inside a nested pickle the plain view reads, is
        what the outer pickle stored in the memo (see :meth:`enter_nested`)."""
        if pos >= self.confused_until:
            return False
        return type(value) is _Outer or (not isinstance(value, str) and id(value) in self.outer_ids)

    def hold(self, target: Any, items: list[Any]) -> None:
        """Items put into a symbolic object: it keeps them, for the analysis too. Past
        ``_MAX_HELD`` items an object's further items are not followed, and the file says so
        (``models/archive-limit``)."""
        entry = self.held.setdefault(id(target), (target, []))
        room = max(0, _MAX_HELD - len(entry[1]))
        entry[1].extend(items[:room])
        if len(items) > room and not self.held_reported:
            self.held_reported = True
            text = f"items put into one object past {_MAX_HELD:,} were not followed"
            self.result.unchecked.append((text, self.here))

    def inserted(self, target: Any, items: list[Any], opcode: str, pos: int) -> None:
        """Items ``opcode`` puts into a symbolic object (:class:`._inserts.Inserts`)."""
        raise NotImplementedError

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

    def frame(self, size: int, pos: int, after: int, end: int) -> None:
        """FRAME as ``Modules/_pickle.c`` (``load_frame``) reads it: a read of ``size`` bytes,
        then a rewind. The C unpickler keeps no frame state, so a FRAME inside the current
        frame that fits in it changes nothing for any C reader (only the pure-Python
        ``_Unframer`` refuses it, and no loader uses that one). One that runs past the current
        frame's end is a read across it: ``io.BytesIO`` drops the rest of the frame and takes
        the new one from the frame's end, ``pickle.loads`` reads on."""
        if size > end - after:  # _pickle refuses; pickle._Unpickler (joblib's) reads on
            self.soft("FRAME longer than the data that follows", pos)
            size = end - after
        fe = self.frame_end
        if pos < fe:
            if after + size <= fe:
                return  # served from the current frame's buffer: nothing changes
            self.result.frame_straddle = True
            self.soft("a FRAME runs past the current one (loaders read it differently)", pos)
            self.frame_end = max(fe, after) + size
            return
        self.frame_end = after + size

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

    def soft(self, reason: str, pos: int) -> None:
        """The analysis cannot follow what the real unpickler does here (it depends on what an
        import really is): an error for the file, and the analysis goes on."""
        if self.result.malformed is None:
            self.result.malformed = (f"cannot follow the stream: {reason}", pos)


class _Outer(str):
    """A string the outer pickle memoized, as the plain view's nested reading fetches it."""


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


# Standard-library modules whose names ``_lacks`` reads: imported here, by us, so a verdict never
# depends on what else happened to be loaded in the scanning process (a Ray worker, a test run)
_READABLE = {
    m.__name__: m for m in (builtins, collections, copy, copyreg, functools, operator, types)
}


def _lacks(module: str, name: str) -> bool:
    """Whether the standard-library ``module`` certainly has no attribute ``name``
    (``collections.dtype``: the real import fails, nothing runs). Only for the modules of
    ``_READABLE``, read from their dicts: nothing is imported or run for the file, and a module
    with ``__getattr__`` could supply the name (then it is not certain)."""
    mod = _READABLE.get(module)
    if mod is None:
        return False
    namespace = vars(mod)
    return "__getattr__" not in namespace and name.split(".", 1)[0] not in namespace
