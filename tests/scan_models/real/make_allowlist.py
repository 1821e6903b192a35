"""Write ``src/mlstix/scan/models/pickles/allowed.txt``: the exact ``module qualname`` pairs
of data constructors that models written by the numerical libraries legitimately import.

A pickle names a class by ``cls.__module__`` and ``cls.__qualname__`` (pandas and NumPy set
``__module__`` to the public path, ``pandas.DataFrame``, ``numpy.float64``), so this walks every
module of each library, keeps the classes (and NumPy ufuncs) that ``find_class`` would resolve
under that very name, and leaves out whole areas that do I/O, run code, start processes or
exist for tests (``pandas.io``, ``scipy.io``, ``numpy.lib.npyio``, ``joblib`` outside its array
wrappers, ``*.testing``, ``*.datasets``, ``xgboost.tracker``...) and classes whose names say they
hold files, sockets, processes or loaders. Functions are never taken wholesale: only the
library's own unpickling helpers (``_unpickle*``, ``__pyx_unpickle_*``, ``_new_*``,
``*_ctor``, ``_reconstruct*``) are added; any other function a real file needs is listed by hand
in ``allowlist.py``. Run with the generator environment of ``make_pickling.py``::

    /work/fixture-venv/bin/python tests/scan_models/real/make_allowlist.py
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pathlib
import pkgutil
import re
import sys
import types
import warnings

PACKAGES = ["numpy", "scipy", "pandas", "sklearn", "statsmodels", "xgboost", "lightgbm"]
DISTRIBUTIONS = ["numpy", "scipy", "pandas", "scikit-learn", "statsmodels", "xgboost", "lightgbm"]
OUT = pathlib.Path(__file__).resolve().parents[3] / "src/mlstix/scan/models/pickles/allowed.txt"
SKIP_MODULE = re.compile(
    r"(^|\.)(tests?|testing|_testing|_testutils|conftest|datasets?|io|iolib|_io|externals|"
    r"_vendor|_vendored|vendored|plotting|graphics|_show_versions|show_versions|parallel|"
    r"_joblib|estimator_checks|_mocking|_config|computation|f2py|distutils|ctypeslib|npyio|"
    r"_npyio_impl|format|_format_impl|_datasource|memmap|dask|spark|pyspark|tracker|collective|"
    r"callback|federated|testing_utils|_pytesttester|sandbox|compat|__main__|libinfo|"
    r"_distributor_init|setup|_build_utils|_lib|api|experimental|_array_api|array_api_compat|"
    r"_array_api_compat_vendor|benchmarks|doc|_utils_impl|utils\._show|tools\.print_version|"
    r"clipboard|_clipboard|excel|pytables|sql|html|xml|parquet|feather|orc|stata|sas|spss|"
    r"pickle|json|gbq|_fortran|netcdf|wavfile|matlab|harwell_boeing|mmio|idl|arff|_iotools)(\.|$)"
)
SKIP_CLASS = re.compile(
    r"(Writer|Reader|Store|File|Handler|Stream|Memmap|MemMap|Socket|Process|Pool|Thread|"
    r"Executor|Server|Client|Connection|(?<!B)Lock|Loader|Downloader|Popen|DataSource|Repository|"
    r"Pickler|Unpickler|Parallel|Memory|Tracker|Callback|CheckPoint|Checkpoint|Opener|Path|"
    r"Shell|Command|Exec|Eval|Compiler|Importer|Module|Plugin|Registry|Context|Environment|"
    r"Logger|Printer|Display|Browser|Dumper|DMatrix|DataIter|Spark|Dask|Ray|LowLevelCallable|"
    r"Temp|Tmp|Cache|Queue|Signal|Timer|Watcher|Profiler|Tester|memmap|open|file)"
)
SKIP_MODULE_ROOTS = ("joblib",)
HELPER = re.compile(r"^(_unpickle\w*|__pyx_unpickle_\w+|_new_\w+|__\w+_ctor|_reconstruct\w*)$")


def walk(package: str) -> list[types.ModuleType]:
    root = importlib.import_module(package)
    modules = [root]
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if SKIP_MODULE.search(info.name[len(package) :]):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                modules.append(importlib.import_module(info.name))
        except Exception:
            continue
    return modules


def resolves(module: str, qualname: str, obj: object) -> bool:
    """Whether ``find_class(module, qualname)`` returns ``obj`` (what a pickle would name)."""
    try:
        target: object = sys.modules.get(module) or importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except Exception:
        return False
    return target is obj


def pairs(package: str) -> set[tuple[str, str]]:
    """The canonical pair of every kept object, plus every other ``module attr`` of a walked
    module that is that same object (re-exports, and the names older versions pickled)."""
    import numpy as np

    modules = walk(package)
    kept: dict[int, object] = {}
    out: set[tuple[str, str]] = set()
    for mod in modules:
        for attr, obj in list(vars(mod).items()):
            if isinstance(obj, type):
                module, qualname = obj.__module__, obj.__qualname__
                if "<" in qualname or module.split(".")[0] != package:
                    continue
                if SKIP_MODULE.search(module[len(package) :]) or SKIP_CLASS.search(qualname):
                    continue
            elif isinstance(obj, np.ufunc):
                module, qualname = "numpy", obj.__name__
            elif callable(obj) and HELPER.match(attr):  # Python, C and Cython functions
                module, qualname = getattr(obj, "__module__", None) or mod.__name__, attr
                if not module.startswith(package) or SKIP_MODULE.search(module[len(package) :]):
                    continue
            else:
                continue
            if resolves(module, qualname, obj):
                out.add((module, qualname))
                kept[id(obj)] = obj
    for mod in modules:
        for attr, obj in list(vars(mod).items()):
            if id(obj) in kept and not attr.startswith("__"):
                out.add((mod.__name__, attr))
    return out


def main() -> None:
    found: set[tuple[str, str]] = set()
    for package in PACKAGES:
        found |= pairs(package)
    versions = ", ".join(f"{d} {importlib.metadata.version(d)}" for d in DISTRIBUTIONS)
    lines = [
        "# GENERATED by tests/scan_models/real/make_allowlist.py, do not edit by hand.",
        f"# From: {versions}.",
        "# One exact pair a line: module, a space, qualname.",
        *sorted(f"{m} {q}" for m, q in found),
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{len(found)} pairs -> {OUT}")


if __name__ == "__main__":
    main()
