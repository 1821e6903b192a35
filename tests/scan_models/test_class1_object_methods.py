"""Class 1, code the loader runs through the objects a stream fills or changes
(``pickles/_inserts.py``).

- Items handed to an object's own methods: ``SETITEM``/``APPEND(S)``/``ADDITEMS`` onto
  anything but an exact dict, list or set call the object (``DataFrame.__setitem__`` calls a
  callable key with the frame; a scikit-learn ``Bunch`` answers ``extend``, ``append``, ``add``
  with its items). A gadget put there was a medium reference; it is invoked (high).
- Imported objects changed by the stream: a ``BUILD`` on a class sets class attributes
  (``Namespace.__setstate__ = gadget``: the next instance's BUILD calls it), a ``SETITEM`` on
  ``_compat_pickle.NAME_MAPPING`` makes the next protocol-2 ``collections.OrderedDict`` import
  a gadget, one on ``copyreg._inverted_registry`` decides what ``EXT1`` imports. All were
  medium. Each case is loaded by CPython's unpickler in a subprocess where the gadget is a
  recorder, to show it really runs.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream

from . import builders as b

_GADGET = ("string", "capwords")  # exists everywhere, allowlisted nowhere, not denied
_BUNCH = ("sklearn.utils._bunch", "Bunch")
_G = b.global_op(*_GADGET)
_U = b.unicode_op

# the real loader: string.capwords replaced by a recorder of what it is called with
_LOADER = """
import json, pickle, string, sys
calls = []
string.capwords = lambda *a: calls.append(type(a[0]).__name__ if a else None)
try:
    pickle.loads(sys.stdin.buffer.read())
except Exception as exc:
    calls.append("failed: " + type(exc).__name__)
print(json.dumps(calls))
"""


def _worst(data: bytes) -> tuple[set[str], list[str]]:
    result = analyze_pickle_stream(io.BytesIO(data), ImportPolicy())
    hits = result.hits(None, "pickle")
    return {h.rule_id for h in hits}, [h.message for h in hits]


def _real_calls(data: bytes) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _LOADER], input=data, capture_output=True, timeout=120, check=True
    )
    calls: list[str] = json.loads(out.stdout)
    return calls


def _bunch() -> bytes:
    return b.global_op(*_BUNCH) + b")R"


# -- items handed to an object's own methods ---------------------------------------------------

_HANDED = {
    "bunch-appends-extend": _bunch() + _U("extend") + _G + b"s(" + _U("x") + b"e.",
    "bunch-append": _bunch() + _U("append") + _G + b"s" + _U("x") + b"a.",
    "bunch-additems-add": b"\x80\x04" + _bunch() + _U("add") + _G + b"s(" + _U("x") + b"\x90.",
}


@pytest.mark.parametrize("data", list(_HANDED.values()), ids=list(_HANDED))
def test_items_a_bunch_answers_for_extend_append_add_run(data: bytes) -> None:
    """CPython looks ``extend``/``append``/``add`` up on a non-list, non-set target; a
    ``Bunch`` returns its item of that name, which the loader calls."""
    pytest.importorskip("sklearn", reason="the real scikit-learn Bunch is needed")
    data = data if data.startswith(b"\x80") else b"\x80\x02" + data
    rules, messages = _worst(data)
    assert "models/pickle-unallowed-call" in rules, messages
    assert any("hands to sklearn.utils._bunch.Bunch" in m for m in messages)
    calls = _real_calls(data)
    assert calls and not calls[0].startswith("failed"), calls


def test_a_callable_key_set_on_a_dataframe_runs() -> None:
    """``DataFrame.__setitem__`` calls a callable key with the frame
    (``pandas.core.common.apply_if_callable``)."""
    data = b"\x80\x02" + b.global_op("pandas", "DataFrame") + b")R" + _G + _U("v") + b"s."
    rules, messages = _worst(data)
    assert "models/pickle-unallowed-call" in rules, messages
    pytest.importorskip("pandas", reason="the real pandas is needed to load it")
    assert _real_calls(data) == ["DataFrame"]


def test_a_gadget_in_an_inert_container_stays_a_reference() -> None:
    """An ``OrderedDict``, ``defaultdict`` or ``deque`` only stores what SETITEM/APPEND give
    it (what every ``torch.save`` state dict does): no call, no new finding."""
    for data in (
        b.global_op("collections", "OrderedDict") + b")R" + _U("k") + _G + b"s.",
        b.global_op("collections", "deque") + b")R" + _G + b"a.",
        b"}" + _U("k") + _G + b"s.",
    ):
        rules, _ = _worst(b"\x80\x02" + data)
        assert rules == {"models/pickle-unknown-import"}


def test_the_librarys_own_function_in_a_bunch_stays_a_reference() -> None:
    """A scikit-learn function kept in a ``Bunch`` (scorers, metrics): as when kept by an
    estimator, what the library's objects hold stays what it was."""
    data = b"\x80\x02" + _bunch() + _U("score")
    data += b.global_op("sklearn.metrics._classification", "f1_score") + b"s."
    rules, _ = _worst(data)
    assert "models/pickle-unallowed-call" not in rules


# -- imported objects changed by the stream --------------------------------------------------

_NAMESPACE = b.global_op("argparse", "Namespace")
_MUTATIONS = {
    # setattr(Namespace, "__setstate__", gadget); Namespace() then BUILD "x" calls it
    "class-setstate": _NAMESPACE + b"N}" + _U("__setstate__") + _G + b"s\x86b0"
    + _NAMESPACE + b")R" + _U("hello world") + b"b.",
    # setattr(Namespace, "__hash__", gadget); an instance as a dict key is hashed
    "class-hash": _NAMESPACE + b"N}" + _U("__hash__") + _G + b"s\x86b0"
    + b"}" + _NAMESPACE + b")R" + _U("v") + b"s.",
    # NAME_MAPPING[("collections", "OrderedDict")] = ("string", "capwords")
    "compat-name-mapping": b.global_op("_compat_pickle", "NAME_MAPPING") + b"(" + _U("collections")
    + _U("OrderedDict") + b"t(" + _U("string") + _U("capwords") + b"ts0"
    + b.global_op("collections", "OrderedDict") + b"(" + _U("hello world") + b"tR.",
    # _inverted_registry[7] = ("string", "capwords"); EXT1 7
    "ext-registry": b.global_op("copyreg", "_inverted_registry") + b"K\x07(" + _U("string")
    + _U("capwords") + b"ts0\x82\x07(" + _U("hello world") + b"tR.",
}  # fmt: skip


@pytest.mark.parametrize("data", list(_MUTATIONS.values()), ids=list(_MUTATIONS))
def test_a_stream_that_changes_an_imported_object_is_high(data: bytes) -> None:
    data = b"\x80\x02" + data
    rules, messages = _worst(data)
    assert rules & {"models/pickle-unallowed-call", "models/pickle-dangerous-import"}, messages
    assert any("changes an imported object" in m for m in messages)
    calls = _real_calls(data)
    assert calls and not calls[0].startswith("failed"), calls


def test_what_a_class_change_stores_counts_as_invoked() -> None:
    data = b"\x80\x02" + _MUTATIONS["class-setstate"]
    result = analyze_pickle_stream(io.BytesIO(data), ImportPolicy())
    st = result.imports["string.capwords"]
    assert st.called and st.later and "argparse.Namespace" in st.later


@pytest.mark.parametrize(
    "name",
    ["_compat_pickle.NAME_MAPPING", "_compat_pickle.IMPORT_MAPPING", "copyreg._inverted_registry",
     "copyreg._extension_cache", "copyreg.add_extension", "copyreg.dispatch_table"],
)  # fmt: skip
def test_the_unpicklers_name_tables_are_denied(name: str) -> None:
    module, attr = name.split(".")
    rules, _ = _worst(b"\x80\x02" + b.global_op(module, attr) + b".")
    assert rules == {"models/pickle-dangerous-import"}


def test_copyregs_constructors_stay_allowed() -> None:
    """What every protocol-2 dump of a plain class writes."""
    data = b"\x80\x02" + b.global_op("copyreg", "_reconstructor") + b"(" + _NAMESPACE
    data += b.global_op("builtins", "object") + b"NtR."
    rules, _ = _worst(data)
    assert rules == set()


# -- methods called by their name --------------------------------------------------------------


def _bound(method: str, args: bytes) -> bytes:
    """``getattr(DataFrame({'a': [1]}), method)(*args)``."""
    frame = b.global_op("pandas", "DataFrame") + b"(}" + _U("a") + b"]K\x01asNtR"
    return (
        b"\x80\x02" + b.global_op("builtins", "getattr") + b"(" + frame + _U(method) + b"tR" + args
    )


@pytest.mark.parametrize(
    "method, args",
    [
        ("agg", b"(" + _U("to_csv") + b"K\x00" + _U("/tmp/x.csv") + b"tR."),
        ("aggregate", b"(" + _U("to_pickle") + b"K\x00" + _U("/tmp/x") + b"tR."),
        ("transform", b"(](" + _U("a") + _U("sum") * 300 + _U("to_csv") + b"eK\x00tR."),
        ("apply", b"(}" + _U("a") + _U("to_csv") + b"sK\x00tR."),
    ],
    ids=["agg", "aggregate-pickle", "name-after-300-in-a-list", "dict-by-column"],
)  # fmt: skip
def test_a_method_named_in_a_dispatch_call_is_high(method: str, args: bytes) -> None:
    """pandas' agg/aggregate/apply/transform call the method a string names: ``df.agg(
    'to_csv', 0, path)`` writes a file (was clean: both the class and ``agg`` are harmless)."""
    rules, messages = _worst(_bound(method, args))
    assert "models/pickle-unallowed-call" in rules, messages
    assert any("a method called by its name" in m for m in messages)


def test_dispatch_with_harmless_names_stays_clean() -> None:
    rules, _ = _worst(_bound("agg", b"(" + _U("sum") + b"tR."))
    assert rules == set()


def test_the_real_pandas_writes_the_file(tmp_path: Path) -> None:
    """What the finding says, with the real loader (the file is written before it fails)."""
    pytest.importorskip("pandas", reason="the real pandas is needed to load it")
    target = tmp_path / "written.csv"
    data = _bound("agg", b"(" + _U("to_csv") + b"K\x00" + _U(str(target)) + b"tR.")
    subprocess.run([sys.executable, "-c", "import pickle, sys\ntry:\n    pickle.loads("
                    "sys.stdin.buffer.read())\nexcept Exception:\n    pass"], input=data,
                   check=True, timeout=120)  # fmt: skip
    assert target.exists()
