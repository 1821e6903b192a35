"""Class 1, what allowlisted objects keep and run later (``pickles/_kept.py``).

- A non-allowlisted function or class object handed to an allowlisted constructor or stored
  by a BUILD state, under any name or inside plain containers, is kept and called later
  (``FunctionTransformer(func=f).transform``, ``partial(f, cmd)()``, a ``defaultdict``'s
  factory): high, critical with a command beside it. Was a medium reference unless the
  attribute was one of a fixed list of names.
- State that an allowlisted class's ``__setstate__`` runs as code: SciPy distributions
  ``exec`` their pickled ``_parse_arg_template`` on load (every ``scipy.stats`` distribution
  was a pickle that read as clean while running any Python on load). Checked against the real
  loader in a subprocess whose audit hook refuses ``exec`` and records what it was asked to
  run.
- Standard-library modules that run commands or code (``_pyrepl.pager`` runs a shell command,
  the subinterpreter modules run source) are denied by name.
"""

from __future__ import annotations

import codecs
import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream
from mlstix.scan.models.pickles.result import PickleResult

from . import builders as b
from .conftest import Scan, rules

_GADGET = ("string", "capwords")  # exists everywhere, allowlisted nowhere, not denied
_QUAL = ".".join(_GADGET)
_FT = ("sklearn.preprocessing._function_transformer", "FunctionTransformer")
_PAYLOAD = "import os\nos.system('touch /nonexistent/mlstix-marker')\n"


def _analyze(data: bytes) -> PickleResult:
    return analyze_pickle_stream(io.BytesIO(data), ImportPolicy())


def _rules(data: bytes) -> set[str]:
    return {h.rule_id for h in _analyze(data).hits(None, "pickle")}


def _binunicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data


def _instance(module: str, name: str) -> bytes:
    return b.global_op(module, name) + b")\x81"  # NEWOBJ with no arguments


# -- kept callables --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        # FunctionTransformer(gadget): an argument of an allowlisted constructor
        b.global_op(*_FT) + b"(" + b.global_op(*_GADGET) + b"tR.",
        # defaultdict(gadget): the factory runs on the first missing key
        b.global_op("collections", "defaultdict") + b"(" + b.global_op(*_GADGET) + b"tR.",
        # BUILD {"func": gadget} on an allowlisted estimator
        _instance(*_FT) + b"}" + b.unicode_op("func") + b.global_op(*_GADGET) + b"sb.",
        # ... inside a list of pairs, as Pipeline.steps holds them
        _instance(*_FT) + b"}" + b.unicode_op("steps") + b"]" + b.unicode_op("a")
        + b.global_op(*_GADGET) + b"\x86asb.",
        # ... in a dict the stream builds by calling dict()
        _instance(*_FT) + b.global_op("builtins", "dict") + b"(]" + b.unicode_op("func")
        + b.global_op(*_GADGET) + b"\x86atRb.",
    ],
    ids=["constructor-argument", "defaultdict-factory", "state", "state-list", "state-dict-call"],
)  # fmt: skip
def test_a_callable_an_allowlisted_object_keeps_is_high(data: bytes) -> None:
    result = _analyze(b"\x80\x02" + data)
    hits = [h for h in result.hits(None, "pickle") if h.evidence.get("import") == _QUAL]
    assert [h.rule_id for h in hits] == ["models/pickle-unallowed-call"]
    assert "a callable kept by" in hits[0].message


@pytest.mark.parametrize(
    "data",
    [
        # BUILD {"funcs": d} with d empty and memoized, then d["k"] = gadget
        _instance(*_FT) + b"}" + b.unicode_op("funcs") + b"}q\x00sb"
        + b"h\x00" + b.unicode_op("k") + b.global_op(*_GADGET) + b"s0.",
        # ... a list appended to afterwards
        _instance(*_FT) + b"}" + b.unicode_op("funcs") + b"]q\x00sb"
        + b"h\x00" + b.global_op(*_GADGET) + b"a0.",
        # an OrderedDict in the state, filled by SETITEM after the BUILD
        _instance(*_FT) + b"}" + b.unicode_op("funcs") + b.global_op("collections", "OrderedDict")
        + b")Rq\x00sb" + b"h\x00" + b.unicode_op("k") + b.global_op(*_GADGET) + b"s0.",
    ],
    ids=["dict-filled-later", "list-filled-later", "ordereddict-filled-later"],
)  # fmt: skip
def test_what_a_kept_container_is_filled_with_afterwards_is_kept(data: bytes) -> None:
    """The object holds what its containers hold when the pickle ends, not at the BUILD."""
    result = _analyze(b"\x80\x02" + data)
    hits = [h for h in result.hits(None, "pickle") if h.evidence.get("import") == _QUAL]
    assert [h.rule_id for h in hits] == ["models/pickle-unallowed-call"]


def test_a_partial_kept_with_a_command_is_critical() -> None:
    """``partial(gadget)`` whose BUILD state gives it a command: calling it later runs it."""
    state = b"(" + b.global_op(*_GADGET) + b"(" + b.unicode_op("touch /tmp/x") + b"t}Nt"
    data = b"\x80\x02" + b.global_op("functools", "partial") + b"(" + b.global_op(*_GADGET)
    data += b"tR" + state + b"b."
    assert "models/pickle-gadget-call" in _rules(data)


@pytest.mark.parametrize(
    "data",
    [
        b.global_op(*_FT) + b"(" + b.global_op("numpy", "log1p") + b"tR.",
        _instance(*_FT) + b"}" + b.unicode_op("func") + b.global_op("numpy", "log1p") + b"sb.",
        # an unknown class only referenced by something that is not allowlisted itself
        b"]" + b.global_op(*_GADGET) + b"a.",
        # operator dunders on the instance: Python takes them from the type
        _instance(*_FT) + b"}" + b.unicode_op("__call__") + b.global_op(*_GADGET) + b"sb.",
        # the libraries' own functions their objects keep: SelectKBest's default score_func,
        # a scorer's metric (what pickle.dump of fitted scikit-learn objects writes)
        _instance("sklearn.feature_selection._univariate_selection", "SelectKBest") + b"}"
        + b.unicode_op("score_func")
        + b.global_op("sklearn.feature_selection._univariate_selection", "f_classif") + b"sb.",
        _instance("sklearn.metrics._scorer", "_Scorer") + b"}" + b.unicode_op("_score_func")
        + b.global_op("sklearn.metrics._classification", "f1_score") + b"sb.",
    ],
    ids=["allowlisted-function", "allowlisted-in-state", "list-item", "operator-dunder",
         "selectkbest-score-func", "scorer-metric"],
)  # fmt: skip
def test_what_is_not_kept_stays_as_it_was(data: bytes) -> None:
    assert not {"models/pickle-unallowed-call", "models/pickle-gadget-call"} & _rules(
        b"\x80\x02" + data
    )


# -- state run as code: SciPy's argument-parser template -------------------------------------

scipy_stats = pytest.importorskip("scipy.stats")


def _swap_template(dist: object, template: str) -> bytes:
    """``pickle.dumps(dist, 2)`` with its ``_parse_arg_template`` string replaced."""
    data = pickle.dumps(dist, protocol=2)
    old = dist._parse_arg_template.encode()  # type: ignore[attr-defined]
    at = data.index(old)
    assert data[at - 5 : at - 4] == b"X"  # BINUNICODE
    return data[: at - 5] + _binunicode(template) + data[at + len(old) :]


def test_every_scipy_distribution_as_scipy_pickles_it_is_clean() -> None:
    """The template check accepts what SciPy writes for every distribution it ships."""
    dists = [
        d
        for d in vars(scipy_stats).values()
        if isinstance(d, scipy_stats.rv_continuous | scipy_stats.rv_discrete)
    ]
    assert len(dists) > 100
    for dist in dists:
        data = pickle.dumps(dist, protocol=2)
        found = _rules(data) & {"models/pickle-gadget-call", "models/pickle-unallowed-call"}
        assert not found, dist.name


@pytest.mark.parametrize("name", ["norm", "poisson", "gamma"])
def test_a_scipy_distribution_whose_template_runs_code_is_critical(name: str) -> None:
    dist = getattr(scipy_stats, name)
    result = _analyze(_swap_template(dist, _PAYLOAD + dist._parse_arg_template))
    hits = [h for h in result.hits(None, "pickle") if h.rule_id == "models/pickle-gadget-call"]
    assert hits and "_parse_arg_template" in hits[0].message


@pytest.mark.parametrize(
    "template",
    [
        "def _parse_args(self, loc=__import__('os').system('id')):\n    return loc\n",
        "@print\ndef _parse_args(self):\n    return ()\n",
        "def _parse_args(self):\n    import os\n    return ()\n",
        "def _parse_args(self):\n    return self._argcheck_rvs(__import__('os'))\n",
        "def _parse_args(self) -> print('x'):\n    return ()\n",
        "def other(self):\n    return ()\n",
        "def _parse_args(self:\n",
    ],
    ids=["default", "decorator", "body", "call-argument", "annotation", "name", "syntax"],
)
def test_code_hidden_in_any_part_of_the_template_is_critical(template: str) -> None:
    assert "models/pickle-gadget-call" in _rules(_swap_template(scipy_stats.norm, template))


def test_a_template_computed_at_load_time_is_critical() -> None:
    """``_codecs.encode(<rot13 text>, 'rot13')`` (allowlisted) makes the template on load."""
    data = pickle.dumps(scipy_stats.norm, protocol=2)
    old = scipy_stats.norm._parse_arg_template.encode()
    at = data.index(old)
    computed = (
        b.global_op("_codecs", "encode")
        + b"("
        + _binunicode(codecs.encode(_PAYLOAD, "rot13"))
        + _binunicode("rot13")
        + b"tR"
    )
    assert "models/pickle-gadget-call" in _rules(data[: at - 5] + computed + data[at + len(old) :])


def test_a_template_in_a_state_given_as_pairs_is_critical() -> None:
    """``rv_generic.__setstate__`` runs ``self.__dict__.update(state)``: pairs work too."""
    state = b"](" + b"(" + _binunicode("_parse_arg_template") + _binunicode(_PAYLOAD) + b"te"
    data = b"\x80\x02" + _instance("scipy.stats._continuous_distns", "norm_gen") + state + b"b."
    assert "models/pickle-gadget-call" in _rules(data)


_LOADER = r"""
import json, pickle, sys
import scipy.stats  # imported before the hook: module code is exec-ed too
ran = []
def hook(event, args):
    if event == "exec" and args[0].co_filename == "<string>":
        ran.append(sorted(args[0].co_names))
        raise RuntimeError("exec refused by the test")
sys.addaudithook(hook)
try:
    pickle.loads(sys.stdin.buffer.read())
except Exception as exc:
    pass
print(json.dumps(ran))
"""


def test_the_real_loader_runs_the_template_on_load() -> None:
    """CPython's unpickler with real SciPy reaches ``exec`` of the pickled template (the
    audit hook refuses it before it runs): the file is what the finding says."""
    data = _swap_template(scipy_stats.norm, _PAYLOAD + scipy_stats.norm._parse_arg_template)
    out = subprocess.run(
        [sys.executable, "-c", _LOADER], input=data, capture_output=True, timeout=120, check=True
    )
    ran = json.loads(out.stdout)
    assert ran and "system" in ran[0] and "os" in ran[0]


# -- denied standard-library modules ---------------------------------------------------------


@pytest.mark.parametrize(
    "module, name",
    [
        ("_pyrepl.pager", "pipe_pager"),
        ("_pyrepl.pager", "tempfile_pager"),
        ("_bootsubprocess", "check_output"),
        ("_osx_support", "_read_output"),
        ("_imp", "create_dynamic"),
        ("_xxsubinterpreters", "run_string"),
        ("atexit", "register"),
        ("pipes", "Template"),
        ("gzip", "GzipFile"),
    ],
)
def test_standard_library_runners_are_denied(module: str, name: str) -> None:
    assert ImportPolicy().verdict(module, name) == "dangerous"


def test_scanning_a_kept_gadget_fails_the_scan(scan: Scan, tmp_path: Path) -> None:
    """End to end: FunctionTransformer holding a partial of a shell pager (Python 3.13+)."""
    partial = b.global_op("functools", "partial") + b"("
    partial += b.global_op("_pyrepl.pager", "pipe_pager") + b.unicode_op("x")
    partial += b.unicode_op("touch /tmp/x") + b"tR"
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x02" + _instance(*_FT) + b"}" + b.unicode_op("func") + partial + b"sb.")
    found = rules(scan(path), "model.pkl")
    assert "models/pickle-dangerous-import" in found


# -- bound methods of allowlisted instances that act outside the process ---------------------


def _method(path: str, name: str, *args: bytes) -> bytes:
    inst = b.global_op("pathlib", "PosixPath") + b"(" + b.unicode_op(path) + b"tR"
    bound = b.global_op("builtins", "getattr") + b"(" + inst + b.unicode_op(name) + b"tR"
    return b"\x80\x02" + bound + b"(" + b"".join(args) + b"tR."


_TARGET = b.global_op("pathlib", "PosixPath") + b"(" + b.unicode_op("/srv/www/key") + b"tR"


@pytest.mark.parametrize(
    ("name", "args"),
    [("replace", _TARGET), ("rename", _TARGET), ("copy", _TARGET), ("move", _TARGET),
     ("lchmod", b"K\x07"), ("unlink", b""), ("walk", b""), ("iterdir", b"")],
)  # fmt: skip
def test_a_path_method_that_touches_the_file_system_is_dangerous(name: str, args: bytes) -> None:
    """``PosixPath(key).replace(target)`` moves any file (3.14 adds ``copy``/``move``): a path's
    methods are harmless only when they compute from the name."""
    assert "models/pickle-dangerous-import" in _rules(_method("/home/u/.ssh/id_rsa", name, args))


@pytest.mark.parametrize("name", ["joinpath", "with_suffix", "as_posix", "relative_to"])
def test_a_path_method_that_computes_from_the_name_is_allowed(name: str) -> None:
    found = _rules(_method("/home/u", name, b.unicode_op("x")))
    assert not found & {"models/pickle-dangerous-import", "models/pickle-unallowed-call"}


def test_a_joblib_wrapper_read_through_getattr_is_dangerous() -> None:
    """``NDArrayWrapper.read(unpickler)`` runs ``np.load(allow_pickle=True)`` on a companion."""
    wrapper = b.global_op("joblib.numpy_pickle_compat", "NDArrayWrapper") + b")\x81"
    bound = b.global_op("builtins", "getattr") + b"(" + wrapper + b.unicode_op("read") + b"tR"
    data = b"\x80\x02" + bound + b"(" + b.global_op("types", "SimpleNamespace") + b")RtR."
    assert "models/pickle-dangerous-import" in _rules(data)


# -- a user's allow_imports pattern ----------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "module", "name"),
    [("torch.*", "torch.serialization", "os.system"), ("torch.*", "torch", "load"),
     ("numpy*", "numpy.testing", "runstring"), ("*", "posix", "system")],
)  # fmt: skip
def test_a_wildcard_pattern_never_allows_a_dangerous_name(
    pattern: str, module: str, name: str
) -> None:
    """Class 1 again through the policy file: ``allow_imports: ['torch.*']`` meant torch's
    classes, not what torch's modules import."""
    assert ImportPolicy((pattern,)).verdict(module, name) == "dangerous"
    assert ImportPolicy((pattern,)).verdict("torch.nn.modules.linear", "Linear") in (
        "allowed",
        "unknown",
    )


def test_an_exact_pattern_allows_what_it_names() -> None:
    policy = ImportPolicy(("acme.ml.*", "torch.load"))
    assert policy.verdict("acme.ml.models", "Net") == "allowed"
    assert policy.verdict("torch", "load") == "allowed"


def test_what_an_allowed_function_calls_while_it_runs_is_a_call_now_not_later() -> None:
    """``_rebuild_from_type_v2(func, type, args, state)`` calls ``func(*args)`` during load: the
    finding says so with its arguments, not 'kept for later'."""
    data = b"\x80\x02" + b.global_op("torch._tensor", "_rebuild_from_type_v2") + b"("
    data += b.global_op(*_GADGET) + b.global_op("torch", "Tensor")
    data += b"(" + b.unicode_op("touch /tmp/x") + b"t}tR."
    hits = [h for h in _analyze(data).hits(None, "pickle") if h.evidence.get("import") == _QUAL]
    assert [h.rule_id for h in hits] == ["models/pickle-gadget-call"]
    assert "after load" not in hits[0].message and "touch /tmp/x" in hits[0].message


def test_a_template_under_a_key_computed_at_load_time_is_critical() -> None:
    """``{_codecs.encode('_cnefr_net_grzcyngr', 'rot13'): code}``: every callable is allowed,
    but the key is ``_parse_arg_template`` only once the stream runs."""
    key = b.global_op("_codecs", "encode") + b"(" + b.unicode_op(codecs.encode(
        "_parse_arg_template", "rot13")) + b.unicode_op("rot13") + b"tR"  # fmt: skip
    state = b"}" + key + _binunicode(_PAYLOAD) + b"s"
    data = b"\x80\x02" + _instance("scipy.stats._continuous_distns", "norm_gen") + state + b"b."
    assert "models/pickle-gadget-call" in _rules(data)
