"""The import policy for pickle streams: exact allowlist, denylist on every dotted tail.

A pickle import (``GLOBAL``, ``STACK_GLOBAL``, ``INST``) names ``module`` and a possibly dotted
``name``; ``find_class`` imports the module and walks the name's attributes, so what it returns
is decided by the whole path, not by its first parts. Verdicts:

- ``dangerous``: runs code, touches the OS, loads more code, reads or writes files, or reaches
  interpreter internals (:mod:`._denylist`). Checked first and on every tail of the dotted
  path, so ``torch.serialization.os.system``, ``sklearn.datasets._base.makedirs``,
  ``pandas.DataFrame.to_csv`` and ``__globals__`` tricks are caught.
- ``allowed``: an exact ``(module, qualname)`` pair of a data constructor that the libraries
  users load models from really write: the hand-kept list below (standard library, PyTorch,
  joblib, names older NumPy and pandas wrote) and ``allowed.txt``, generated from the
  libraries themselves by ``tests/scan_models/real/make_allowlist.py``. No prefix is trusted:
  a trusted package's module holds re-exports of anything it imports.
- ``unknown``: anything else. The machine decides the severity from how the stream uses it:
  invoked (``REDUCE``, ``NEWOBJ``, ``NEWOBJ_EX``, ``OBJ``, ``INST``, ``BUILD``) is high,
  invoked with a shell-command-like argument critical, only referenced medium.

Python 2 names are mapped the way ``pickle`` maps them (``__builtin__`` → ``builtins``).
"""

from __future__ import annotations

import _compat_pickle
import fnmatch
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from mlstix.scan.models.pickles._denylist import (
    DANGEROUS_ATTR_PREFIXES,
    DANGEROUS_ATTRS,
    DANGEROUS_MODULES,
    DANGEROUS_NAMES,
)

__all__ = [
    "CONSTRUCTS_FIRST_ARG",
    "INVOKES_ARGUMENT",
    "SETS_AFTER_LOAD",
    "ImportPolicy",
    "Verdict",
    "allowed_pairs",
    "dangerous",
    "dangerous_attr",
    "normalize",
]

Verdict = Literal["dangerous", "allowed", "unknown"]

# Exact names that the generated list does not hold: the standard library's data types, the
# names PyTorch and joblib write, and the names older NumPy and pandas versions wrote.
_ALLOWED_NAMES = frozenset(
    [
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.Counter",
        "collections.deque",
        "builtins.set",
        "builtins.frozenset",
        "builtins.slice",
        "builtins.range",
        "builtins.complex",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.str",
        "builtins.object",
        "builtins.Ellipsis",
        "builtins.NotImplemented",
        "copyreg._reconstructor",
        "copyreg.__newobj__",
        "copyreg.__newobj_ex__",
        "_codecs.encode",
        "codecs.encode",
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "zoneinfo.ZoneInfo",
        "zoneinfo.ZoneInfo._unpickle",
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        "argparse.Namespace",
        "types.SimpleNamespace",
        "functools.partial",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib.PurePosixPath",
        "pathlib.PureWindowsPath",
        "re._compile",
        "enum.Enum",
        "numpy.core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.ma.core._mareconstruct",
        "numpy.random.__RandomState_ctor",
        "numpy.random.mtrand.RandomState",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
        "joblib.numpy_pickle.NDArrayWrapper",  # joblib < 0.10 (the name still resolves)
        "joblib.numpy_pickle.ZNDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
        "pandas._libs.tslibs.timestamps._unpickle_timestamp",
        "pandas._libs.tslibs.timedeltas._timedelta_unpickle",
        "pandas._libs.tslibs.nattype.__nat_unpickle",
        "pandas.core.internals.blocks.new_block",
        "pandas.core.internals.blocks._unpickle_block",
        "torch.Size",
        "torch.device",
        "torch.dtype",
        "torch.layout",
        "torch.memory_format",
        "torch.Tensor",
        "torch.contiguous_format",
        "torch.channels_last",
        "torch.channels_last_3d",
        "torch.preserve_format",
        "torch.strided",
        "torch.sparse_coo",
        "torch.sparse_csr",
        "torch._tensor._rebuild_from_type_v2",
        "torch.nn.parameter.Parameter",
        "torch.nn.parameter.UninitializedParameter",
        "torch.nn.parameter.Buffer",
        "torch.serialization._get_layout",
        "torch.storage.UntypedStorage",
        "torch.storage.TypedStorage",
        "torch.storage._TypedStorage",
        "torch.UntypedStorage",
    ]
)
_TORCH_DTYPES = [
    "float32",
    "float",
    "float64",
    "double",
    "float16",
    "half",
    "bfloat16",
    "complex32",
    "complex64",
    "complex128",
    "cfloat",
    "cdouble",
    "uint8",
    "int8",
    "int16",
    "short",
    "int32",
    "int",
    "int64",
    "long",
    "bool",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "uint16",
    "uint32",
    "uint64",
]
_TORCH_STORAGES = [
    "FloatStorage",
    "DoubleStorage",
    "HalfStorage",
    "BFloat16Storage",
    "LongStorage",
    "IntStorage",
    "ShortStorage",
    "CharStorage",
    "ByteStorage",
    "BoolStorage",
    "ComplexFloatStorage",
    "ComplexDoubleStorage",
    "QInt8Storage",
    "QUInt8Storage",
    "QInt32Storage",
    "QUInt4x2Storage",
    "QUInt2x4Storage",
    "UntypedStorage",
]
_TORCH_REBUILD = [
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_tensor_v3",
    "_rebuild_parameter",
    "_rebuild_parameter_with_state",
    "_rebuild_sparse_tensor",
    "_rebuild_nested_tensor",
    "_rebuild_device_tensor_from_numpy",
    "_rebuild_qtensor",
    "_rebuild_wrapper_subclass",
    "_rebuild_meta_tensor_no_storage",
    "_rebuild_xla_tensor",
    "_rebuild_mkldnn_tensor",
    "_rebuild_sparse_csr_tensor",
    "_rebuild_device_tensor_from_cpu_tensor",
]
_TORCHSCRIPT = [
    "build_intlist",
    "build_tensorlist",
    "build_doublelist",
    "build_boollist",
    "build_tensor_from_id",
    "restore_type_tag",
]
_HAND_ALLOWED = (
    _ALLOWED_NAMES
    | {f"torch.{d}" for d in _TORCH_DTYPES}
    | {f"torch.{s}" for s in _TORCH_STORAGES}
    | {f"torch._utils.{r}" for r in _TORCH_REBUILD}
    | {f"torch.jit._pickle.{n}" for n in _TORCHSCRIPT}
)
# Allowed functions that build an instance of the class they are given as first argument,
# without the class being the callable the stream names (copyreg._reconstructor(cls, ...),
# numpy's _reconstruct(subtype, ...), pandas' _new_Index(cls, d)): the class is invoked.
CONSTRUCTS_FIRST_ARG = frozenset(
    [
        "copyreg._reconstructor",
        "copyreg.__newobj__",
        "copyreg.__newobj_ex__",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.ma.core._mareconstruct",
        "pandas.core.indexes.base._new_Index",
        "pandas._libs.internals._unpickle_block",
    ]
)

# Allowed functions that call (or construct) another of their arguments while they run:
# qualname -> (index of the callable, index of what it is called with, whether that argument
# is the whole argument tuple (True) or a single argument (False); None: no arguments).
# Reference: copyreg._reconstructor (base.__new__/__init__), torch._tensor
# ._rebuild_from_type[_v2] (func(*args), new_type.__setstate__), torch._utils
# ._rebuild_wrapper_subclass, numpy.ma.core._mareconstruct (ndarray.__new__(baseclass)),
# numpy.random._pickle's constructors (bit_generator_ctor(name), a class given as the name).
INVOKES_ARGUMENT: dict[str, tuple[tuple[int, int | None, bool], ...]] = {
    "copyreg._reconstructor": ((1, 2, False),),
    "torch._tensor._rebuild_from_type_v2": ((0, 2, True), (1, 3, False)),
    "torch._tensor._rebuild_from_type": ((0, 2, True),),
    "torch._utils._rebuild_wrapper_subclass": ((0, None, False),),
    "numpy.ma.core._mareconstruct": ((1, None, False),),
    "numpy.random._pickle.__bit_generator_ctor": ((0, None, False),),
    "numpy.random._pickle.__generator_ctor": ((1, 0, False), (0, None, False)),
    "numpy.random._pickle.__randomstate_ctor": ((1, 0, False), (0, None, False)),
    # allowed classes whose __init__ calls a callable argument (found by
    # tests/scan_models/real/find_invokers.py); index -1: every argument
    **dict.fromkeys(
        [
            "scipy.optimize._basinhopping.BasinHoppingRunner",
            "scipy.optimize._constraints.VectorFunction",
            "scipy.optimize._differentiable_functions.VectorFunction",
            "scipy.optimize._differentiable_functions._ScalarHessWrapper",
            "scipy.optimize._differentialevolution.DifferentialEvolutionSolver",
            "scipy.optimize._lsq.least_squares.VectorFunction",
            "scipy.optimize._trustregion_constr.minimize_trustregion_constr.VectorFunction",
            "scipy.sparse.linalg._eigen.arpack.arpack._SymmetricArpackParams",
            "scipy.sparse.linalg._eigen.arpack.arpack._UnsymmetricArpackParams",
            "scipy.special._orthogonal.orthopoly1d",
            "scipy.stats._distribution_infrastructure.MonotonicTransformedDistribution",
            "scipy.stats._sampling.CustomDistPINV",
            "statsmodels.discrete.truncated_model._RCensored",
            "statsmodels.robust.covariance._Standardize",
            "statsmodels.stats._lilliefors.TableDist",
            "statsmodels.stats.tabledist.TableDist",
        ],
        ((-1, None, False),),
    ),
}


# Allowed functions that attach code to what they build, run after load: the backward hooks
# of a tensor or parameter (called on every backward pass), and attributes set from a state
# (``torch._utils._set_obj_state``: ``setattr`` for each, ``__class__`` too).
# qualname -> (index of the hooks argument, index of the state argument); None: none.
# Reference: torch/_utils.py (_rebuild_tensor_v2/v3, _rebuild_qtensor, _rebuild_parameter,
# _rebuild_parameter_with_state), torch/_tensor.py (_rebuild_from_type_v2).
SETS_AFTER_LOAD: dict[str, tuple[int | None, int | None]] = {
    "torch._utils._rebuild_tensor_v2": (5, None),
    "torch._utils._rebuild_tensor_v3": (5, None),
    "torch._utils._rebuild_qtensor": (6, None),
    "torch._utils._rebuild_parameter": (2, None),
    "torch._utils._rebuild_parameter_with_state": (2, 3),
    "torch._tensor._rebuild_from_type_v2": (None, 3),
}


# Allowed classes whose instances name something outside the process: a path. Of their bound
# methods only those that compute from the name are harmless; every other one reads, writes,
# moves, copies, links or deletes under innocent names (``Path.replace``, ``copy``, ``move``,
# ``lchmod``, ``walk``), so it is judged dangerous. Reference: ``pathlib.PurePath`` (3.11-3.14).
_PURE_METHODS = {
    "pathlib": frozenset(
        ["joinpath", "with_name", "with_stem", "with_suffix", "with_segments", "relative_to",
         "is_relative_to", "is_absolute", "is_reserved", "match", "full_match", "as_posix",
         "as_uri", "name", "stem", "suffix", "suffixes", "parent", "parents", "parts",
         "anchor", "drive", "root", "parser"]
    ),
}  # fmt: skip


def normalize(module: str, name: str) -> tuple[str, str]:
    """Map Python 2 names the way ``pickle`` does for protocols below 3."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return module, name


@functools.cache
def allowed_pairs() -> frozenset[str]:
    """Every allowed ``module.qualname``: the hand-kept names and ``allowed.txt``."""
    text = resources.files(__package__).joinpath("allowed.txt").read_text("utf-8")
    generated = {line.replace(" ", ".", 1) for line in text.splitlines() if line and line[0] != "#"}
    return frozenset(_HAND_ALLOWED | generated)


def _listed(candidate: str) -> bool:
    return candidate in DANGEROUS_MODULES or candidate in DANGEROUS_NAMES


def dangerous_attr(part: str) -> bool:
    """An attribute name that reads, writes, runs or loads (``to_csv``, ``system``, ``load``)."""
    return part in DANGEROUS_ATTRS or part.startswith(DANGEROUS_ATTR_PREFIXES)


def dangerous(module: str, name: str) -> bool:
    """Dangerous if any prefix of ``module.name`` is listed, any attribute path inside
    ``name`` starts with a listed module (``torch.serialization`` + ``os.system``), any part
    of ``name`` is a dunder (``__globals__``) or an attribute that does I/O or runs code
    (``DataFrame.to_csv``, ``load``, ``system``)."""
    parts = f"{module}.{name}".split(".")
    first_attr = len(module.split("."))
    attrs = parts[first_attr:]
    if any(p.startswith("__") and p.endswith("__") and len(p) > 4 for p in attrs):
        return True  # __globals__, __builtins__, __subclasses__, ...
    if any(dangerous_attr(p) for p in attrs):
        return True
    for start in (0, *range(first_attr, len(parts))):
        tail = parts[start:]
        if any(_listed(".".join(tail[:j])) for j in range(1, len(tail) + 1)):
            return True
    return False


@dataclass(frozen=True)
class ImportPolicy:
    """The built-in lists plus the user's ``allow_imports`` patterns (fnmatch on
    ``module.name``)."""

    extra_allowed: tuple[str, ...] = ()

    @classmethod
    def with_allowed(cls, patterns: Iterable[str]) -> ImportPolicy:
        return cls(tuple(patterns))

    def verdict(self, module: str, name: str) -> Verdict:
        """A user's pattern allows what it matches, but a wildcard never allows a dangerous
        name (``torch.*`` must not allow ``torch.serialization.os.system`` or ``torch.load``):
        only the exact name does."""
        module, name = normalize(module, name)
        qualname = f"{module}.{name}"
        if any(fnmatch.fnmatchcase(qualname, p) for p in self.extra_allowed):
            if qualname in self.extra_allowed or not dangerous(module, name):
                return "allowed"
            return "dangerous"
        if qualname in _HAND_ALLOWED:  # curated: may sit inside a denied module (torch.jit)
            return "allowed"
        if dangerous(module, name):
            return "dangerous"
        if qualname in allowed_pairs():
            return "allowed"
        return "unknown"

    def method_verdict(self, cls_module: str, cls_name: str, attr: str) -> Verdict:
        """``getattr(instance, attr)`` on an instance of ``cls_module.cls_name``: a bound method
        of an allowlisted class is allowed unless the attribute itself is dangerous
        (``to_csv``, ``save_model``, ``__reduce__``) or one of a path that touches the file
        system (:data:`_PURE_METHODS`); of any other class, as the class."""
        if dangerous(cls_module, f"{cls_name}.{attr}"):
            return "dangerous"
        pure = _PURE_METHODS.get(cls_module)
        if pure is not None and attr not in pure:
            return "dangerous"
        return self.verdict(cls_module, cls_name)
