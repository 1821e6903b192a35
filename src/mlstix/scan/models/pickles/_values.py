"""How the symbolic machine's values behave where CPython's unpickler would check them.

Values are either *concrete* (what literal opcodes build: ``int``, ``str``, ``bytes``,
``tuple``, ``list``, ``dict``, ``set``... and :class:`Blob` for skipped payloads), whose
behaviour is known exactly, or *symbolic* (:class:`Global`, :class:`Call`: an imported object
or what calling it returned), which may be anything. A check the real unpickler makes on a
concrete value is made here too and fails the stream exactly where ``pickle.load`` fails; on a
symbolic value it cannot be decided, so the stream is analysed on as if it passed.
"""

from __future__ import annotations

from typing import Any

from mlstix.scan.models.pickles.opcodes import Blob, Call, Global

__all__ = [
    "appendable",
    "concrete",
    "key",
    "pairs",
    "setitem_ok",
    "unhashable",
]


def concrete(v: Any) -> bool:
    return not isinstance(v, Global | Call)


def unhashable(v: Any, depth: int = 0) -> bool:
    """Whether the real value is certainly unhashable (a list, dict, set, bytearray, or a tuple
    holding one). Symbolic values may hash."""
    if isinstance(v, list | dict | set | bytearray):
        return True
    if isinstance(v, tuple) and depth < 50:
        return any(unhashable(x, depth + 1) for x in v)
    return False


def key(v: Any) -> Any:
    """``v`` as a dict key or set item of our model; ``TypeError`` where Python's would fail."""
    try:
        hash(v)
    except TypeError:
        if unhashable(v):
            raise TypeError("unhashable type") from None
        return ("<symbolic>", id(v))
    return v


def pairs(items: list[Any]) -> dict[Any, Any]:
    """``DICT``/``SETITEMS`` items; ``ValueError`` on an odd count, ``TypeError`` on an
    unhashable key, as in CPython."""
    if len(items) % 2:
        raise ValueError("odd number of items for DICT or SETITEMS")
    return {key(items[i]): items[i + 1] for i in range(0, len(items), 2)}


def appendable(target: Any, items: list[Any]) -> bool:
    """Whether ``APPEND``/``APPENDS`` of ``items`` onto ``target`` succeeds in CPython: a list,
    a symbolic object, or a bytearray of byte values; anything else has no ``append``."""
    if isinstance(target, list) or not concrete(target):
        return True
    if isinstance(target, bytearray):
        return all(type(i) in (int, bool) and 0 <= i < 256 for i in items)
    return False


def setitem_ok(target: Any, k: Any, v: Any) -> bool:
    """Whether ``target[k] = v`` succeeds in CPython."""
    if isinstance(target, dict):
        return not unhashable(k)
    if not concrete(target):
        return True
    if isinstance(target, list | bytearray) and type(k) in (int, bool):
        if not -len(target) <= k < len(target):
            return False
        return not isinstance(target, bytearray) or (type(v) in (int, bool) and 0 <= v < 256)
    return False


def callable_value(v: Any) -> bool:
    """Whether ``v`` may be called: literal values never are."""
    return not concrete(v) or isinstance(v, type)


def buffer_like(v: Any) -> bool:
    return isinstance(v, bytes | bytearray | Blob)
