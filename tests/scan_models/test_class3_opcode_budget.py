"""Class 3, an analysis budget the stream can spend: the machine stops interpreting after
``MAX_OPS`` opcodes, but a loader reads on. A payload after fifty million ``NONE``/``POP``
pairs (a 50 MB pickle) was a medium "malformed" and nothing else. Past the budget the rest of
the pickle is searched for imports (``pickles/_tail.py``): what it imports counts as invoked,
and the file is reported as not followed to its end (``models/archive-limit``, high). The
budget is lowered here so the streams stay small."""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable

import pytest

from mlstix.scan.models.pickles import _fast, analyze, vm
from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream
from mlstix.scan.models.pickles.result import PickleResult

from . import builders as b

_BUDGET = 1000
_GADGET = b.global_op("string", "capwords")


@pytest.fixture(autouse=True)
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (vm, _fast, analyze):
        monkeypatch.setattr(module, "MAX_OPS", _BUDGET)


def _analyze(data: bytes, fast: bool = True) -> PickleResult:
    """``fast``: the in-memory machine; else the stream reader (files too large to hold)."""
    if fast:
        return analyze_pickle_stream(io.BytesIO(data), ImportPolicy())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(analyze, "MAX_BUFFER", 0)
        return analyze_pickle_stream(io.BytesIO(data), ImportPolicy())


def _rules(result: PickleResult) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for h in result.hits(None, "pickle"):
        out.setdefault(h.rule_id, []).append(h.message)
    return out


_PAD = b"N0" * _BUDGET
_U = b.unicode_op
_PAYLOADS = {
    "global": lambda m, n: b.global_op(m, n) + b"(" + _U("id") + b"tR",
    "stack-global-literals": lambda m, n: _U(m) + _U(n) + b"\x93" + _U("id") + b"\x85R",
    "stack-global-memo": lambda m, n: _U(m) + b"\x94" + _U(n) + b"\x94" + b"00"
    + b"h\x00h\x01\x93" + _U("id") + b"\x85R",
}  # fmt: skip


@pytest.mark.parametrize("fast", [True, False], ids=["in-memory", "streamed"])
@pytest.mark.parametrize("make", list(_PAYLOADS.values()), ids=list(_PAYLOADS))
def test_a_payload_after_the_budget_is_found(make: Callable[[str, str], bytes], fast: bool) -> None:
    # the real unpickler reads the same shape (with a harmless callable) to its end
    assert pickle.loads(b"\x80\x04" + _PAD + make("io", "StringIO") + b".").read() == "id"
    found = _rules(_analyze(b"\x80\x04" + _PAD + make("os", "system") + b".", fast))
    assert "models/pickle-dangerous-import" in found, found
    assert "models/archive-limit" in found
    assert "models/pickle-malformed" not in found


def test_an_unknown_callable_after_the_budget_is_high() -> None:
    data = b"\x80\x02" + _PAD + _GADGET + b")R."
    found = _rules(_analyze(data))
    assert "models/pickle-unallowed-call" in found


def test_a_name_the_search_cannot_tell_is_computed() -> None:
    """``STACK_GLOBAL`` on a name made by a call: judged as an import computed at load time."""
    name = b.global_op("builtins", "str") + b"(" + b.unicode_op("system") + b"tR"
    data = b"\x80\x04" + _PAD + b.unicode_op("os") + name + b"\x93."
    messages = _rules(_analyze(data))["models/pickle-dangerous-import"]
    assert any("computed at load time" in m for m in messages)


def test_allowlisted_names_after_the_budget_stay_quiet() -> None:
    """A large benign pickle: only the limit is reported, not its ordinary classes."""
    od = b.unicode_op("collections") + b"\x94" + b.unicode_op("OrderedDict") + b"\x94\x93)R"
    data = b"\x80\x04" + _PAD + od + b"0" + b"h\x00h\x01\x93)R."
    assert set(_rules(_analyze(data))) == {"models/archive-limit"}


def test_stacked_pickles_after_the_budget_are_still_read() -> None:
    data = b"\x80\x02" + _PAD + b"N." + b.call_pickle("os", "system", "id")
    found = _rules(_analyze(data))
    assert "models/pickle-dangerous-import" in found
