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

import struct
from typing import IO, Any

from mlstix.scan.models.pickles import _values as val
from mlstix.scan.models.pickles._state import MAX_OPS
from mlstix.scan.models.pickles._tail import scan_tail
from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.opcodes import (
    MAX_BUFFER,
    OPS,
    BufReader,
    Malformed,
    OverBudget,
    Reader,
    StreamReader,
    read_arg,
)
from mlstix.scan.models.pickles.result import PickleResult, short
from mlstix.scan.models.pickles.vm import Machine

_MAX_SEGMENTS = 10_000
_PROBE = 64 << 10  # bytes read to decide whether buffering the whole stream is worth it
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_TORCH_LEGACY_PROTOCOL = 1001
_LEGACY_PICKLES = 5  # magic number, protocol version, system info, the object, storage keys


def looks_like_pickle(head: bytes) -> bool:
    """Whether ``head`` starts like a pickle: ``PROTO 0-5``, or protocol 0/1 opcodes that decode
    to a plausible beginning."""
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return True
    if not head or head[:1] not in (b"(", b"c", b"}", b"]", b")", b"N", b"I", b"S", b"V"):
        return False
    r = BufReader(head)
    try:
        for _ in range(4):
            if r.at_end():
                break
            op = OPS.get(r.data[r.pos])
            if op is None:
                return False
            r.pos += 1
            read_arg(r, op)
    except (Malformed, struct.error, IndexError, UnicodeDecodeError, ValueError):
        return r.tell() >= len(head) - 1
    return True


def _breaks_early(fp: IO[bytes], here: int) -> bool:
    """Whether the opcode stream at ``here`` reaches a byte that is no opcode within its first
    ``_PROBE`` bytes. The machine reads opcodes with the same reader and stops there or
    earlier, so such a stream (another format seen through the pickle view: a GGUF header, an
    image) is read from the stream up to where it breaks, instead of being read whole into
    memory, which for a remote object means fetched whole. An argument the probe cannot finish
    (it may run past the probe) says nothing: the stream is then buffered as before."""
    head = fp.read(_PROBE)
    fp.seek(here)
    r = BufReader(head)
    try:
        while r.pos < len(head) - 1:
            op = OPS.get(head[r.pos])
            if op is None:
                return True
            r.pos += 1
            read_arg(r, op)
    except (Malformed, struct.error, IndexError, UnicodeDecodeError, ValueError, OverflowError):
        return False
    return False


def analyze_pickle_stream(
    fp: IO[bytes], policy: ImportPolicy, *, stacked: bool = True, joblib: bool = True
) -> PickleResult:
    """Analyse every pickle in ``fp`` from its current position to its end. Offsets in the
    result are relative to that position.

    The stream is read as ``joblib.load`` reads it (arrays taken from the stream after joblib's
    wrapper BUILDs) and, when that skipped any bytes a plain unpickler would read as opcodes,
    again as ``pickle.load`` (``torch.load``, ``pandas.read_pickle``) reads it: those bytes are
    opcodes to it, and a payload there runs for every loader but joblib. Where the plain view
    fails on the array bytes is where those loaders stop, not an error. ``joblib=False``: a
    stream only ``pickle.load`` reads (a torch archive's pickles, a NumPy object array)."""
    here = fp.tell()
    size = fp.seek(0, 2) - here
    fp.seek(here)
    r: Reader
    if size > MAX_BUFFER or (size > _PROBE and _breaks_early(fp, here)):
        r = StreamReader(fp)  # too big to hold, or an opcode stream that ends in its first bytes
    else:
        r = BufReader(fp.read(size))
    result = PickleResult()
    _run(r, policy, result, stacked=stacked, joblib=joblib)
    if any(_is_opcode(r, here, at) for at in result.joblib_arrays[:1]):
        if isinstance(r, BufReader):
            r.pos = 0
        else:
            fp.seek(here)
        plain = PickleResult()
        since = result.joblib_arrays[0]
        _run(r, policy, plain, stacked=stacked, joblib=False, plain=(since, result.joblib_nested))
        result.merge_plain(plain, result.joblib_arrays[0])
    return result


def _is_opcode(r: Reader, here: int, at: int) -> bool:
    """Whether a plain unpickler reads an opcode at ``at`` (where joblib read array bytes)."""
    if isinstance(r, BufReader):
        return at < r.end and r.data[at] in OPS
    r.fp.seek(at)  # a stream reader's offsets are the file's
    byte = r.fp.read(1)
    r.fp.seek(here)
    return bool(byte) and byte[0] in OPS


def _run(
    r: Reader,
    policy: ImportPolicy,
    result: PickleResult,
    *,
    stacked: bool,
    joblib: bool,
    plain: tuple[int, dict[int, int]] | None = None,
) -> None:
    """Every pickle from the reader's position on (one unless ``stacked``), into ``result``.
    ``joblib``: read arrays after joblib's wrapper BUILDs (``joblib.load``); the nested pickle
    of an object array is read by a plain unpickler, as joblib reads it. ``plain``: the
    plain-pickle view of a joblib file (:meth:`Machine.read_as_plain_view`)."""

    def one(view: bool) -> Any:
        machine = Machine(policy, result, nested, joblib=view)
        if plain is not None:
            machine.read_as_plain_view(*plain)
        try:
            return machine.run(r)
        except OverBudget as exc:
            # a loader reads on: the rest is searched for imports (see _tail)
            result.unchecked.append((f"the analysis stopped after {MAX_OPS:,} opcodes", exc.pos))
            if scan_tail(machine, r):
                return None
            raise _SegmentError("the pickle breaks after the opcode budget", r.tell(), 1) from None
        except (Malformed, struct.error, UnicodeDecodeError, OverflowError, ValueError) as exc:
            pos = exc.pos if isinstance(exc, Malformed) else r.tell()
            raise _SegmentError(str(exc), pos, machine.imports_seen) from None
        finally:
            machine.recheck_kept()

    def nested() -> None:
        one(False)

    while result.segments < _MAX_SEGMENTS:
        try:
            value = one(joblib)
        except _SegmentError as err:
            legacy = result.torch_legacy and result.segments < _LEGACY_PICKLES
            if joblib and (result.segments == 0 or err.imports or legacy):
                result.malformed = (err.message, err.pos)
            break
        if result.segments == 0 and value == _TORCH_LEGACY_MAGIC and type(value) is int:
            result.torch_legacy = True
        result.segments += 1
        if result.torch_legacy and _legacy_done(result, value, r.tell()):
            break
        if not stacked or r.at_end():
            break


def _legacy_done(result: PickleResult, value: Any, end: int) -> bool:
    """``torch.serialization._legacy_load`` after the magic number: the protocol version
    (1001, or torch.load stops there), the system info, the object (its persistent ids name
    the storages), the list of storage keys; then raw storage data, never opcodes. True when
    no further pickle is read."""
    index = result.segments - 1
    if index == 1 and value != _TORCH_LEGACY_PROTOCOL:
        if val.concrete(value):
            result.malformed = (f"legacy PyTorch protocol version {short(value)}: torch.load "
                                "refuses it", end)  # fmt: skip
        else:
            result.malformed = ("cannot follow the stream: a legacy PyTorch protocol version "
                                "computed at load time", end)  # fmt: skip
        return True
    if index == _LEGACY_PICKLES - 1:
        result.legacy_keys = value
        result.legacy_data = end
        return True
    return False


class _SegmentError(Exception):
    def __init__(self, message: str, pos: int, imports: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.imports = imports
