"""The sandboxed side of the differential harness: real readers on untrusted bytes.

Run as ``python -I _worker.py``; reads one JSON request a line on stdin, answers one JSON line
on stdout. Nothing it reads is ever executed: pickles go through CPython's own ``_pickle``
``Unpickler`` whose ``find_class`` and ``persistent_load`` return inert stand-ins, classes that
record how the stream invokes them (called, ``__new__`` through NEWOBJ/INST/OBJ,
``__setstate__`` through BUILD) and otherwise accept anything. ``copyreg``'s constructors and
``builtins.getattr`` on a stand-in behave as the real ones do on the classes they are given, so
the record names the class that really gets invoked. An audit hook refuses process, network,
import and file-writing events once the readers are loaded, and the address space is capped.
"""

from __future__ import annotations

import _compat_pickle
import base64
import contextlib
import copyreg
import importlib.machinery
import io
import json
import pickle
import resource
import signal
import sys
from typing import Any

EVENTS: list[dict[str, Any]] = []
_MAX_EVENTS = 2000
FINDABLE_ONLY = [False]  # find_class fails, as the real one does, on modules not found here


def _record(origin: tuple[str, str], how: str, depth: int, args: Any = ()) -> None:
    if len(EVENTS) < _MAX_EVENTS:
        EVENTS.append(
            {"module": origin[0], "name": origin[1], "how": how, "depth": depth,
             "strings": _strings(args)}
        )  # fmt: skip


def _strings(value: Any, depth: int = 0) -> list[str]:
    if depth > 4:
        return []
    if isinstance(value, str):
        return [value[:200]]
    if isinstance(value, bytes):
        return [value[:200].decode("latin-1")]
    if isinstance(value, tuple | list):
        return [s for v in value[:16] for s in _strings(v, depth + 1)]
    if isinstance(value, dict):
        return [s for v in list(value.values())[:16] for s in _strings(v, depth + 1)]
    return []


class _Meta(type):
    _origin: tuple[str, str]
    _depth: int

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        special = _SPECIAL.get(cls._origin) if cls._depth == 0 else None
        if special is not None:
            return special(*args, **kwargs)
        if cls._depth == 0 and not args and cls._origin in _BUILDS_FIRST_ARG:
            raise TypeError(f"{cls._origin[1]}() missing its first argument (the class)")
        _record(cls._origin, "call", cls._depth, args)
        return _derive(cls._origin, cls._depth + 1)

    def __setitem__(cls, key: Any, value: Any) -> None:  # SETITEM(S) onto a stand-in
        pass


class Stub(metaclass=_Meta):
    """What every imported name, call result and persistent id is: a class that accepts any
    use the unpickler makes of it."""

    _origin = ("", "")
    _depth = 0

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # NEWOBJ, NEWOBJ_EX, empty INST/OBJ
        if cls._depth == 0 and (cls._origin in _SPECIAL or cls._origin in _FUNCTIONS):
            raise TypeError(f"{cls._origin[1]} is not a type object")  # no __new__ to call
        _record(cls._origin, "new", cls._depth, args)
        return _derive(cls._origin, cls._depth + 1)

    @classmethod
    def __setstate__(cls, *args: Any) -> None:  # BUILD (every value is a class)
        _record(cls._origin, "build", cls._depth, args)

    @classmethod
    def append(cls, *args: Any) -> None:
        pass

    @classmethod
    def extend(cls, *args: Any) -> None:
        pass

    @classmethod
    def add(cls, *args: Any) -> None:
        pass

    @classmethod
    def __setitem__(cls, *args: Any) -> None:
        pass


def _derive(origin: tuple[str, str], depth: int) -> Any:
    return _Meta("Stub", (Stub,), {"_origin": origin, "_depth": depth})


def _construct_first(*args: Any, **kwargs: Any) -> Any:
    """copyreg._reconstructor(cls, base, state), copyreg.__newobj__(cls, *args),
    copyreg.__newobj_ex__(cls, args, kwargs): ``cls`` is what gets built."""
    _record(("copyreg", "_reconstructor"), "call", 0, args)
    if not args:  # each of them takes the class as a required first argument
        raise TypeError("missing required positional argument: 'cls'")
    if isinstance(args[0], _Meta):
        cls = args[0]
        _record(cls._origin, "new", cls._depth, args[1:])
        return _derive(cls._origin, cls._depth + 1)
    return _derive(("copyreg", "_reconstructor"), 1)


def _getattr(*args: Any) -> Any:
    """builtins.getattr(stand-in, 'attr'): on an imported name, the attribute path find_class
    would resolve; on what a call built, the bound method ``Class.<instance>.attr``."""
    if len(args) == 2 and isinstance(args[0], _Meta) and isinstance(args[1], str) and args[1]:
        cls = args[0]
        if cls._depth == 0:
            origin = (cls._origin[0], f"{cls._origin[1]}.{args[1]}")
        else:
            origin = (cls._origin[0], f"{cls._origin[1]}.<instance>.{args[1]}")
        _record(origin, "resolve", 0)
        return _derive(origin, 0)
    _record(("builtins", "getattr"), "call", 0, args)
    return _derive(("builtins", "getattr"), 1)


_SPECIAL = {
    ("copyreg", "_reconstructor"): _construct_first,
    ("copyreg", "__newobj__"): _construct_first,
    ("copyreg", "__newobj_ex__"): _construct_first,
    ("builtins", "getattr"): _getattr,
}


# functions that build an instance of the class they take as a required first argument
_BUILDS_FIRST_ARG = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.ma.core", "_mareconstruct"), ("pandas.core.indexes.base", "_new_Index"),
    ("pandas._libs.internals", "_unpickle_block"),
}  # fmt: skip

# names the libraries define as functions, not classes (the stand-ins are classes): NEWOBJ
# on them fails in the real unpickler
_FUNCTIONS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.ma.core", "_mareconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("numpy._core.numeric", "_frombuffer"),
    ("pandas.core.indexes.base", "_new_Index"), ("pandas._libs.internals", "_unpickle_block"),
    ("torch._utils", "_rebuild_tensor_v2"), ("torch._tensor", "_rebuild_from_type_v2"),
    ("numpy.random._pickle", "__generator_ctor"), ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"), ("collections", "namedtuple"),
}  # fmt: skip


def _normalize(module: str, name: str) -> tuple[str, str]:
    """pickle's Python 2 name mapping (applied by the default find_class below protocol 3)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]  # type: ignore[no-any-return]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _findable(module: str) -> bool:
    """Whether ``__import__(module)`` finds a module in this environment, looked up on the
    import path without importing anything."""
    path = None
    parts = module.split(".")
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        loaded = sys.modules.get(name)
        if loaded is not None:
            path = getattr(loaded, "__path__", None)
        elif i == 0 and name in sys.builtin_module_names:
            path = None
        else:
            try:
                spec = importlib.machinery.PathFinder.find_spec(name, path)
            except (ImportError, ValueError):
                return False
            if spec is None:
                return False
            path = spec.submodule_search_locations
        if path is None and i < len(parts) - 1:
            return False
    return True


def _find_or_fail(module: str, name: str) -> None:
    """What the real ``find_class`` fails on here: a module not on the import path, or an
    attribute a module this process already holds does not have (one that would need an
    import to tell is taken to exist)."""
    if not _findable(module):
        raise ModuleNotFoundError(f"No module named {module!r}")
    obj = sys.modules.get(module)
    for part in name.split(".") if obj is not None else ():
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(f"Can't get attribute {name!r} on {module!r}") from None
        except Exception:  # a lazy import the sandbox refuses: the real loader would do it
            return


class RecordingUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if not module:
            raise ValueError("Empty module name")  # __import__(''), before any import
        origin = _normalize(module, name)
        if FINDABLE_ONLY[0]:
            _find_or_fail(*origin)
        _record(origin, "resolve", 0)
        if not name:
            raise AttributeError("module has no attribute ''")  # imported, then getattr fails
        return _derive(origin, 0)

    def persistent_load(self, pid: Any) -> Any:
        return _derive(("<persistent>", ""), 1)


class PyRecordingUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]
    """The pure-Python unpickler (what ``joblib.load`` subclasses), recording the same way."""

    find_class = RecordingUnpickler.find_class
    persistent_load = RecordingUnpickler.persistent_load


def read_pickle_py(data: bytes, stacked: bool) -> dict[str, Any]:
    fp = io.BytesIO(data)
    segments = 0
    while True:
        PyRecordingUnpickler(fp, encoding="latin1").load()
        segments += 1
        if not stacked or fp.tell() >= len(data):
            return {"segments": segments}


def _load(fp: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("encoding", "latin1")
    kwargs.pop("fix_imports", None)
    return RecordingUnpickler(fp, encoding=kwargs["encoding"]).load()


def read_pickle(data: bytes, stacked: bool) -> dict[str, Any]:
    """``pickle.load`` through two kinds of file, as loaders hand them over: one with ``peek``
    (``open()``, ``ZipExtFile``, ``GzipFile``; reads like ``pickle.loads``) and ``io.BytesIO``
    without it (``torch.load``'s zip records), where the C unpickler reads FRAMEs
    differently. Fails if either fails; ``views_disagree`` when one fails and not the other."""
    outcomes = []
    for fp in (io.BufferedReader(io.BytesIO(data)), io.BytesIO(data)):  # type: ignore[arg-type]
        segments = 0
        try:
            while True:
                _load(fp)
                segments += 1
                if not stacked or fp.tell() >= len(data):
                    break
        except (MemoryError, RecursionError, TimeoutError):
            raise
        except Exception as exc:  # every failure of the real reader is data
            outcomes.append(f"{type(exc).__name__}: {exc}"[:300])
        else:
            outcomes.append(None)
    if outcomes[0] is None and outcomes[1] is None:
        return {"segments": segments}
    raise _Failed(outcomes[0] or outcomes[1] or "", outcomes[0] is None or outcomes[1] is None)


class _Failed(Exception):
    def __init__(self, message: str, disagree: bool) -> None:
        super().__init__(message)
        self.disagree = disagree


def read_numpy(data: bytes) -> dict[str, Any]:
    import numpy as np

    pickle.load = _load  # numpy.lib.format calls pickle.load(fp, **pickle_kwargs)
    out = np.load(io.BytesIO(data), allow_pickle=True)
    if hasattr(out, "files"):
        members = list(out.files)
        for name in members:
            out[name]
        return {"members": members}
    return {"shape": list(getattr(out, "shape", ()))}


def read_joblib(data: bytes) -> dict[str, Any]:
    """``joblib.load``'s own unpickler (``NumpyUnpickler``, on ``pickle._Unpickler``) on an
    uncompressed stream. ``find_class`` hands out the real classes joblib needs to read
    arrays (its wrapper, ``numpy.dtype``, ``numpy.ndarray`` and NumPy's array
    reconstructor: data types, nothing that reaches the system) and recording stand-ins for
    every other name, in the nested pickles of object arrays too."""
    import numpy as np
    from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

    real = {
        ("joblib.numpy_pickle", "NumpyArrayWrapper"): NumpyArrayWrapper,
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("builtins", "object"): object,
    }

    def reconstructor(*args: Any) -> Any:  # protocols 0 and 1 build the wrapper through it
        if args and args[0] is NumpyArrayWrapper:
            _record(("copyreg", "_reconstructor"), "call", 0, args)
            return copyreg._reconstructor(*args)
        return _construct_first(*args)

    real[("copyreg", "_reconstructor")] = reconstructor

    class Recording(NumpyUnpickler):  # type: ignore[misc]
        def find_class(self, module: str, name: str) -> Any:
            if not module:
                raise ValueError("Empty module name")  # __import__(''), before any import
            origin = _normalize(module, name) if self.proto < 3 else (module, name)
            _record(origin, "resolve", 0)
            if not name:
                raise AttributeError("module has no attribute ''")  # imported, getattr fails
            return real.get(origin) or _derive(origin, 0)

        def persistent_load(self, pid: Any) -> Any:
            return _derive(("<persistent>", ""), 1)

    fp = io.BytesIO(data)
    Recording("", fp, ensure_native_byte_order=True).load()
    return {"read": fp.tell()}


def read_zip(data: bytes) -> dict[str, Any]:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [(i.filename, len(zf.read(i))) for i in zf.infolist()]
    return {"members": members}


def read_tar(data: bytes) -> dict[str, Any]:
    import tarfile

    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            f = tf.extractfile(m)
            out.append((m.name, len(f.read()) if f else -1))
    return {"members": out}


def decompress(kind: str, data: bytes) -> dict[str, Any]:
    import bz2
    import gzip
    import lzma
    import zlib

    if kind == "gzip":
        raw = gzip.decompress(data)
    elif kind == "bz2":
        raw = bz2.decompress(data)
    elif kind in ("xz", "lzma"):
        raw = lzma.decompress(data)
    elif kind == "zlib":
        raw = zlib.decompress(data)
    elif kind == "zstd":
        import zstandard

        raw = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    elif kind == "lz4":
        import lz4.frame

        raw = lz4.frame.decompress(data)
    else:
        raise ValueError(f"unknown compressor {kind}")
    return {"data": base64.b64encode(raw).decode()}


def handle(request: dict[str, Any]) -> dict[str, Any]:
    data = base64.b64decode(request["data"])
    op = request["op"]
    FINDABLE_ONLY[0] = bool(request.get("findable"))
    if op == "pickle":
        return read_pickle(data, bool(request.get("stacked")))
    if op == "numpy":
        return read_numpy(data)
    if op == "pickle_py":
        return read_pickle_py(data, bool(request.get("stacked")))
    if op == "joblib":
        return read_joblib(data)
    if op == "zip":
        return read_zip(data)
    if op == "tar":
        return read_tar(data)
    if op == "decompress":
        return decompress(str(request["kind"]), data)
    raise ValueError(f"unknown op {op}")


_REFUSED = ("os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
                            "subprocess.", "socket.", "ctypes.", "os.remove", "os.rename",
                            "os.rmdir", "os.mkdir", "shutil.", "webbrowser.", "pty.")  # fmt: skip


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event.startswith(_REFUSED) or event in ("import", "exec"):
        raise RuntimeError(f"sandbox: refused {event}")
    if (
        event == "open"
        and len(args) > 1
        and isinstance(args[1], str)
        and set(args[1]) & set("wax+")
    ):
        raise RuntimeError(f"sandbox: refused writing {args[0]!r}")


def _timeout(signum: int, frame: Any) -> None:
    raise TimeoutError("real reader timed out")


def main() -> None:
    limit = 2 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(5000)
    # load every reader up front, then refuse imports and process/network/file events
    import bz2  # noqa: F401

    for optional in ("numpy", "numpy.lib.format", "zstandard", "lz4.frame", "joblib.numpy_pickle"):
        with contextlib.suppress(ImportError):
            __import__(optional)
    for codec in ("latin-1", "utf-8", "ascii", "raw_unicode_escape", "unicode_escape"):
        "x".encode(codec).decode(codec)
    sys.addaudithook(_audit)
    signal.signal(signal.SIGALRM, _timeout)
    out = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        EVENTS.clear()
        signal.alarm(int(request.get("timeout", 10)))
        try:
            reply = {"ok": True, **handle(request)}
        except MemoryError:
            reply = {"ok": False, "error": "MemoryError", "inconclusive": True}
        except RecursionError:
            reply = {"ok": False, "error": "RecursionError", "inconclusive": True}
        except TimeoutError as exc:
            reply = {"ok": False, "error": str(exc), "inconclusive": True}
        except _Failed as exc:
            reply = {"ok": False, "error": str(exc), "views_disagree": exc.disagree}
        except Exception as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        finally:
            signal.alarm(0)
        reply["events"] = list(EVENTS)
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
