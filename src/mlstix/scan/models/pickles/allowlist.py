"""The import policy for pickle streams: allowlist first, a denylist for what is dangerous.

A pickle import (``GLOBAL``, ``STACK_GLOBAL``, ``INST``) names ``module`` and a possibly dotted
``name``; the unpickler imports the module and walks the name's attributes. Verdicts:

- ``dangerous``: runs code, touches the OS, loads more code or reaches interpreter internals.
  Checked first and on every tail of the dotted path, so ``torch.serialization.os.system``,
  submodules (``asyncio.unix_events``) and ``__globals__`` tricks are caught.
- ``allowed``: needed to load PyTorch, NumPy, scikit-learn, joblib and similar models, or added
  by the user's policy.
- ``unknown``: anything else, reported at medium severity so that new gadgets are never clean.

Python 2 names are mapped the way ``pickle`` maps them (``__builtin__`` → ``builtins``).
"""

from __future__ import annotations

import _compat_pickle
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["ImportPolicy", "Verdict", "normalize"]

Verdict = Literal["dangerous", "allowed", "unknown"]

# Modules whose every member (and submodule) is dangerous in a model file.
_DANGEROUS_MODULES = frozenset(
    [
        "os",
        "posix",
        "nt",
        "posixpath",
        "ntpath",
        "subprocess",
        "_posixsubprocess",
        "pty",
        "shutil",
        "sys",
        "socket",
        "_socket",
        "ssl",
        "ctypes",
        "_ctypes",
        "cffi",
        "importlib",
        "imp",
        "zipimport",
        "pkgutil",
        "runpy",
        "marshal",
        "code",
        "codeop",
        "pdb",
        "bdb",
        "cProfile",
        "profile",
        "_lsprof",
        "timeit",
        "trace",
        "pydoc",
        "webbrowser",
        "multiprocessing",
        "concurrent",
        "asyncio",
        "threading",
        "_thread",
        "signal",
        "platform",
        "commands",
        "popen2",
        "pickle",
        "_pickle",
        "cPickle",
        "dill",
        "cloudpickle",
        "shelve",
        "pip",
        "setuptools",
        "distutils",
        "http",
        "urllib",
        "urllib2",
        "requests",
        "httpx",
        "ftplib",
        "telnetlib",
        "smtplib",
        "poplib",
        "imaplib",
        "nntplib",
        "xmlrpc",
        "socketserver",
        "tempfile",
        "glob",
        "io",
        "_io",
        "fileinput",
        "mmap",
        "gc",
        "inspect",
        "types",
        "ast",
        "tokenize",
        "compileall",
        "py_compile",
        "sysconfig",
        "site",
        "builtins.__import__",
        "idlelib",
        "venv",
        "ensurepip",
        "tkinter",
        "turtle",
        "doctest",
        "unittest",
        "operator._operator",
        "_operator",
        "torch.hub",
        "torch.serialization",
        "torch.load",
        "torch.jit.load",
        "torch.utils.cpp_extension",
        "torch._dynamo",
        "torch._inductor",
        "torch.package",
        "numpy.f2py",
        "numpy.distutils",
        "numpy.load",
        "numpy.testing",
        "numpy.lib.npyio",
        "numpy.ctypeslib",
        "pandas.read_pickle",
        "pandas.io",
        "joblib.load",
        "joblib.numpy_pickle.load",
        "keras.models.load_model",
        "tensorflow.io",
        "tensorflow.keras.models.load_model",
        "jinja2",
        "mako",
        "yaml.load",
        "yaml.unsafe_load",
    ]
)
# Individual dangerous names in otherwise harmless modules.
_DANGEROUS_NAMES = frozenset(
    [
        "builtins.eval",
        "builtins.exec",
        "builtins.compile",
        "builtins.__import__",
        "builtins.getattr",
        "builtins.setattr",
        "builtins.delattr",
        "builtins.open",
        "builtins.input",
        "builtins.breakpoint",
        "builtins.globals",
        "builtins.locals",
        "builtins.vars",
        "builtins.memoryview",
        "builtins.help",
        "builtins.execfile",
        "builtins.file",
        "builtins.reload",
        "builtins.apply",
        "builtins.__builtins__",
        "builtins.exit",
        "builtins.quit",
        "builtins.classmethod",
        "builtins.staticmethod",
        "builtins.property",
        "builtins.super",
        "builtins.type",
        "builtins.object.__subclasses__",
        "operator.attrgetter",
        "operator.methodcaller",
        "operator.itemgetter",
        "functools.reduce",
        "copyreg._reconstructor.__globals__",
        "torch.storage._load_from_bytes",
    ]
)
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
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        "argparse.Namespace",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib.PurePosixPath",
        "pathlib.PureWindowsPath",
        "re._compile",
        "enum.Enum",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.ma.core._mareconstruct",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random.__RandomState_ctor",
        "numpy.random.mtrand.RandomState",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
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
_ALLOWED = (
    _ALLOWED_NAMES
    | {f"torch.{d}" for d in _TORCH_DTYPES}
    | {f"torch.{s}" for s in _TORCH_STORAGES}
    | {f"torch._utils.{r}" for r in _TORCH_REBUILD}
    | {f"torch.jit._pickle.{n}" for n in _TORCHSCRIPT}
)
# Prefixes of packages whose classes models legitimately pickle (checked after the denylist).
_ALLOWED_PREFIXES = (
    "torch.nn.modules.",
    "torch.optim.",
    "__torch__.",
    "sklearn.",
    "scipy.sparse.",
    "xgboost.core.",
    "xgboost.sklearn.",
    "lightgbm.basic.",
    "lightgbm.sklearn.",
    "numpy.dtypes.",
)


def normalize(module: str, name: str) -> tuple[str, str]:
    """Map Python 2 names the way ``pickle`` does for protocols below 3."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return module, name


def _listed(candidate: str) -> bool:
    return candidate in _DANGEROUS_MODULES or candidate in _DANGEROUS_NAMES


def _dangerous(module: str, name: str) -> bool:
    """Dangerous if any prefix of ``module.name`` is listed, or any attribute path inside
    ``name`` starts with a listed module (``torch.serialization`` + ``os.system``)."""
    parts = f"{module}.{name}".split(".")
    first_attr = len(module.split("."))
    if any(p.startswith("__") and p.endswith("__") and len(p) > 4 for p in parts[first_attr:]):
        return True  # __globals__, __builtins__, __subclasses__, ...
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
        module, name = normalize(module, name)
        qualname = f"{module}.{name}"
        if any(fnmatch.fnmatchcase(qualname, p) for p in self.extra_allowed):
            return "allowed"
        if _dangerous(module, name):
            return "dangerous"
        if qualname in _ALLOWED or qualname.startswith(_ALLOWED_PREFIXES):
            return "allowed"
        return "unknown"
