"""Class 1, what objects keep, past the walk's old caps: a gadget after 4,096 padding items
of a BUILD state, at the end of a list longer than that, or six lists deep was a medium
reference (the walk stopped without a word), and so was a SciPy ``_parse_arg_template`` or a
tensor's ``__class__`` after 4,096 padding keys. The walks now go to the end under one budget
per pickle, and a pickle that spends it is ``models/archive-limit`` (high)."""

from __future__ import annotations

import io

import pytest

from mlstix.scan.models.pickles import _state
from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream

from . import builders as b

_U = b.unicode_op
_GADGET = b.global_op("string", "capwords")
_FT = b.global_op("sklearn.preprocessing._function_transformer", "FunctionTransformer") + b")\x81"
_PADS = b"".join(_U(f"p{i}") + b"K\x00" for i in range(5000))


def _rules(data: bytes) -> set[str]:
    result = analyze_pickle_stream(io.BytesIO(b"\x80\x02" + data), ImportPolicy())
    return {h.rule_id for h in result.hits(None, "pickle")}


@pytest.mark.parametrize(
    "data",
    [
        _FT + b"}(" + _PADS + _U("func") + _GADGET + b"ub.",
        _FT + b"}" + _U("funcs") + b"(" + b"K\x00" * 5000 + _GADGET + b"lsb.",
        _FT + b"}" + _U("funcs") + b"]" * 6 + _GADGET + b"a" * 6 + b"sb.",
        # a dict built by calling dict() on a long list of pairs
        _FT + b.global_op("builtins", "dict") + b"((" + b"".join(
            _U(f"p{i}") + b"K\x00\x86" for i in range(5000)) + _U("func") + _GADGET
        + b"\x86ltRb.",
    ],
    ids=["after-padding-keys", "end-of-long-list", "six-lists-deep", "dict-of-pairs"],
)  # fmt: skip
def test_a_kept_gadget_past_the_old_caps_is_high(data: bytes) -> None:
    assert "models/pickle-unallowed-call" in _rules(data)


def test_a_scipy_template_after_padding_keys_is_critical() -> None:
    dist = b.global_op("scipy.stats._continuous_distns", "norm_gen") + b")\x81"
    template = "import os\nos.system('id')\n"
    data = dist + b"}(" + _PADS + _U("_parse_arg_template") + _U(template) + b"ub."
    assert "models/pickle-gadget-call" in _rules(data)


def test_a_class_set_after_padding_keys_runs_after_load() -> None:
    """``torch._utils._rebuild_parameter_with_state``'s state sets every attribute."""
    state = b"}(" + _PADS + _U("__class__") + _GADGET + b"u"
    data = b.global_op("torch._utils", "_rebuild_parameter_with_state") + b"(N\x89"
    data += b.global_op("collections", "OrderedDict") + b")R" + state + b"tR."
    assert "models/pickle-unallowed-call" in _rules(data)


def test_items_past_what_one_object_holds_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_state, "_MAX_HELD", 10)
    od = b.global_op("collections", "OrderedDict") + b")R("
    data = od + b"".join(_U(f"k{i}") + b"K\x00" for i in range(20)) + b"u."
    assert "models/archive-limit" in _rules(data)


def test_a_large_benign_state_stays_quiet() -> None:
    """A vectorizer's vocabulary of many words: items are looked at, nothing is reported."""
    vocab = b"}(" + b"".join(_U(f"w{i}") + b"M" + i.to_bytes(2, "little") for i in range(30000))
    cv = b.global_op("sklearn.feature_extraction.text", "CountVectorizer") + b")\x81"
    data = cv + b"}" + _U("vocabulary_") + vocab + b"usb."
    assert _rules(data) == set()
