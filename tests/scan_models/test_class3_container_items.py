"""Class 3 of issue 10 (containers): what the stream puts into a container keeps being what
the container holds, for the analysis too, and so do attributes a BUILD state sets.

SETITEM(S), APPEND(S) and ADDITEMS into an object the stream built (an ``OrderedDict``, a
``deque``, a ``set``, a ``defaultdict``: allowlisted classes) store the items there; a bound
method of it (``getattr(od, 'get')``, allowed on allowlisted classes) hands them back, and
calling what it returns runs them. Each case is checked against CPython's unpickler handing
out the real containers and ``getattr`` (every other name records its call and runs nothing).
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict, defaultdict, deque
from typing import Any

import pytest

from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream

from . import builders as b

_GADGET = b.global_op("acme.tools", "run")


_REAL: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("collections", "deque"): deque,
    ("collections", "defaultdict"): defaultdict,
    ("builtins", "set"): set,
    ("builtins", "getattr"): getattr,
}


class _Real(pickle.Unpickler):
    """The real unpickler with the real containers; any other name records its calls."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.called: list[str] = []

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _REAL:
            return _REAL[(module, name)]
        return lambda *args: self.called.append(f"{module}.{name}")


def _v(text: str) -> bytes:
    return b"V" + text.encode() + b"\n"


def _fetch_and_call(container: bytes, store: bytes, method: str, key: bytes) -> bytes:
    """``c = container; <store into c>; getattr(c, method)(*key)('x')``."""
    return (
        b"\x80\x02" + container + b"q\x00" + store + b"0"
        + b.global_op("builtins", "getattr") + b"(h\x00" + _v(method) + b"tR"
        + b"(" + key + b"tR" + b"(" + _v("x") + b"tR."
    )  # fmt: skip


_OD = b.global_op("collections", "OrderedDict") + b")R"
_FILLER = b"".join(_v(f"k{i}") + b.global_op("collections", "OrderedDict") for i in range(70))

# a BUILD state sets an attribute of an allowlisted instance; getattr returns it
_ATTRIBUTE = (
    b"\x80\x02" + _OD + b"q\x00" + b"}" + _v("k") + _GADGET + b"sb0"
    + b.global_op("builtins", "getattr") + b"(h\x00" + _v("k") + b"tR" + b"(" + _v("x") + b"tR."
)  # fmt: skip

# ... and the state dict changed after the BUILD: the attribute is what BUILD copied
_ATTRIBUTE_THEN_CHANGED = (
    b"\x80\x02" + _OD + b"q\x00" + b"}q\x01" + _v("k") + _GADGET + b"sb0"
    + b"h\x01" + _v("k") + _v("harmless") + b"s0"
    + b.global_op("builtins", "getattr") + b"(h\x00" + _v("k") + b"tR" + b"(" + _v("x") + b"tR."
)  # fmt: skip

CASES = {
    "OrderedDict-attribute-from-BUILD": _ATTRIBUTE,
    "OrderedDict-attribute-state-changed-after-BUILD": _ATTRIBUTE_THEN_CHANGED,
    "OrderedDict-SETITEMS": _fetch_and_call(_OD, b"(" + _v("k") + _GADGET + b"u", "get", _v("k")),
    "OrderedDict-SETITEM": _fetch_and_call(_OD, _v("k") + _GADGET + b"s", "get", _v("k")),
    "OrderedDict-after-70-allowed-values": _fetch_and_call(
        _OD, b"(" + _FILLER + _v("k") + _GADGET + b"u", "get", _v("k")
    ),
    "defaultdict-SETITEMS": _fetch_and_call(
        b.global_op("collections", "defaultdict") + b"(Nt" + b"R",
        b"(" + _v("k") + _GADGET + b"u",
        "get",
        _v("k"),
    ),
    "deque-APPENDS": _fetch_and_call(
        b.global_op("collections", "deque") + b")R", b"(" + _GADGET + b"e", "pop", b""
    ),
    "set-ADDITEMS": _fetch_and_call(
        b.global_op("builtins", "set") + b")R", b"(" + _GADGET + b"\x90", "pop", b""
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_gadget_kept_in_a_container_and_called_from_it_is_high(name: str) -> None:
    data = CASES[name]
    real = _Real(data)
    real.load()
    assert real.called == ["acme.tools.run"]
    result = analyze_pickle_stream(io.BytesIO(data), ImportPolicy())
    stat = result.imports["acme.tools.run"]
    assert stat.called and stat.rule() == "models/pickle-unallowed-call"
    assert result.malformed is None


def test_a_container_only_holding_a_gadget_stays_a_reference() -> None:
    """Held, never called: the import is what it was (medium), not a call."""
    data = b"\x80\x02" + _OD + b"(" + _v("k") + _GADGET + b"u."
    result = analyze_pickle_stream(io.BytesIO(data), ImportPolicy())
    assert result.imports["acme.tools.run"].rule() == "models/pickle-unknown-import"
