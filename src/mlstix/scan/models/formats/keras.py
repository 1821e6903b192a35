"""Keras models: HDF5 (``.h5``, Keras 2 ``model_config`` attribute) and Keras v3 ``.keras``
zips (``config.json``), following the Keras serialization format (``keras.saving``).

Flags, anywhere a config can hold them (layers, activations, initializers, nested and deeply
nested models: the whole JSON tree is walked, iteratively):

* ``Lambda`` layers and serialized lambdas anywhere (``{"class_name": "__lambda__"}`` as an
  activation, a regularizer, a loss): their Python code is marshalled into the config and runs
  on load with ``safe_mode=False`` or on old Keras;
* references that make ``deserialize_keras_object`` import a module and fetch an attribute
  (``module`` / ``class_name`` / ``registered_name``, function ``config``) outside Keras, and
  at high when the target is a dangerous callable (CVE-2025-1550: Keras < 3.9 imported any
  module named in ``config.json``, even in safe mode);
* Keras' own file-fetching helpers used as a gadget (CVE-2025-8747: ``keras.utils.get_file``
  downloads to any path while the model loads);
* lookup layers whose ``vocabulary`` is a path (CVE-2025-12058: ``StringLookup`` and friends
  read any local or remote file named in the config when the model loads), and any other
  object whose config names a file it reads (KerasHub tokenizers' ``vocabulary``, ``merges``
  and ``proto``; ``TFSMLayer``'s ``filepath``: an outside SavedModel whose graph runs on every
  call);
* Keras' own functions that turn safe mode off or load more (CVE-2025-9906:
  ``keras.config.enable_unsafe_deserialization`` and ``set_global_attribute`` called from a
  config before a Lambda layer; ``load_model``/``load_weights`` and every name that reads,
  writes or fetches, judged by the denylist's attribute names).

HDF5 attributes are read with ``h5py`` (the ``scan`` extra); without it, the raw bytes are
searched for the config's JSON markers. With it, links, external storage and virtual datasets
that read other files are reported too (:mod:`._hdf5_links`, CVE-2026-1669).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from mlstix.scan.models._context import Context, Source
from mlstix.scan.models.formats._hdf5_links import check_links
from mlstix.scan.models.formats.ziparchive import ZipEntry
from mlstix.scan.models.pickles._denylist import DANGEROUS_ATTR_PREFIXES, DANGEROUS_ATTRS

__all__ = ["analyze_hdf5", "analyze_keras_zip", "check_config"]

_KERAS_MODULES = ("keras", "tf_keras", "tensorflow.keras", "keras_hub", "keras_nlp", "keras_cv")
_MAX_CONFIG = 64 << 20
_MAX_NODES = 2_000_000
_FETCHERS = frozenset({"get_file", "file_utils.get_file"})
# Keras functions that lift safe mode for the rest of the load (CVE-2025-9906)
_UNSAFE = frozenset({"enable_unsafe_deserialization", "set_global_attribute", "TFSMLayer"})
# config keys that name a file an object reads when it is built
_PATH_KEYS = frozenset({"vocabulary", "merges", "proto", "filepath", "vocabulary_file"})
_LOOKUPS = frozenset(
    {"StringLookup", "IntegerLookup", "TextVectorization", "Hashing", "IndexLookup"}
)


def _walk(root: Any, cut: list[bool]) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``root``, depth first, without recursion; past ``_MAX_NODES``
    values ``cut`` gets an item and the rest is not walked."""
    stack = [root]
    seen = 0
    while stack:
        if seen >= _MAX_NODES:
            cut.append(True)
            return
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            yield node
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def _layer_name(node: dict[str, Any]) -> str:
    cfg = node.get("config")
    if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
        return str(cfg["name"])
    return "?"


def load_json(text: str | bytes, src: Source, ctx: Context, where: str) -> Any:
    """The parsed config, or ``None`` after reporting why Keras could not parse it either."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problem = f"is not valid JSON: {exc}"
    except RecursionError:
        problem = "is nested too deeply for a JSON parser"
    ctx.malformed("models/unrecognized-model-file", f"{where} {problem}", src)
    return None


def _reference(node: dict[str, Any]) -> tuple[str, str] | None:
    """The ``(module, name)`` that deserializing ``node`` imports, if it names one."""
    module = node.get("module")
    cls = node.get("class_name")
    registered = node.get("registered_name")
    if not isinstance(module, str) or not module:
        if isinstance(registered, str) and ">" in registered:
            package, _, name = registered.partition(">")
            return package, name
        return None
    name = cls if isinstance(cls, str) else ""
    if name == "function" and isinstance(node.get("config"), str):
        name = str(node["config"])  # a function: module.config is what is fetched
    return module, name


def _runs(name: str) -> bool:
    return name in DANGEROUS_ATTRS or name.startswith(DANGEROUS_ATTR_PREFIXES)


def check_config(config: Any, src: Source, ctx: Context, where: str) -> None:
    """Flag code paths anywhere in a Keras config (see the module docstring)."""
    seen: set[tuple[str, str, str]] = set()
    in_lambda: set[int] = set()

    def once(rule: str, key: str, message: str, **evidence: object) -> None:
        if (rule, key, message) not in seen:
            seen.add((rule, key, message))
            ctx.hit(rule, f"{where}: {message}", src, **evidence)

    cut: list[bool] = []
    for node in _walk(config, cut):
        cls = node.get("class_name")
        if cls == "Lambda":
            name = _layer_name(node)
            once("models/keras-lambda", name,
                 f"Lambda layer {name!r} carries serialized Python code", layer=name)  # fmt: skip
            inner = node.get("config")
            if isinstance(inner, dict):
                in_lambda.add(id(inner.get("function")))  # its own code: said once
        elif cls == "__lambda__" and id(node) not in in_lambda:  # an activation, a loss, ...
            code = node.get("config")
            key = str(code.get("value", code.get("code")))[:64] if isinstance(code, dict) else "?"
            once("models/keras-lambda", key,
                 "a serialized Python lambda (marshalled code that deserialize_keras_object "
                 "runs with func_load when safe mode is off)", layer="__lambda__")  # fmt: skip
        cfg = node.get("config")
        paths = cfg if isinstance(cfg, dict) and cls else {}
        for key in sorted(_PATH_KEYS & set(paths)):
            path = paths[key]
            if isinstance(path, str) and path:
                cve = {"cve": "CVE-2025-12058"} if cls in _LOOKUPS else {}
                once("models/keras-file-reference", path,
                     f"{cls} {_layer_name(node)!r} reads its {key} from {path!r} when the "
                     f"model loads{' (CVE-2025-12058)' if cve else ''}", path=path,
                     **cve)  # fmt: skip
        ref = _reference(node)
        if ref is None:
            continue
        module, name = ref
        keras_own = module.startswith(_KERAS_MODULES)
        last = name.rsplit(".", 1)[-1]
        if keras_own and (last in _UNSAFE or _runs(last)) and last != "get_file":
            once("models/keras-dangerous-reference", f"{module}.{name}",
                 f"{cls} makes Keras call {module}.{name}, which lifts safe mode or loads, "
                 "reads or writes outside the model (CVE-2025-9906)", module=module,
                 name=name, cve="CVE-2025-9906")  # fmt: skip
        elif keras_own and (name in _FETCHERS or name.endswith(".get_file")):
            once("models/keras-file-reference", f"{module}.{name}",
                 f"{cls} refers to {module}.{name}, which downloads files while the model "
                 "loads (CVE-2025-8747)", module=module, name=name,
                 cve="CVE-2025-8747")  # fmt: skip
        elif not keras_own and name and ctx.policy.verdict(module, name) == "dangerous":
            once("models/keras-dangerous-reference", f"{module}.{name}",
                 f"{cls} makes Keras import {module}.{name}, which runs code (CVE-2025-1550)",
                 module=module, name=name, cve="CVE-2025-1550")  # fmt: skip
        elif not keras_own:
            once("models/keras-custom-object", f"{cls}:{module}",
                 f"{cls} comes from {module!r}, imported when the model loads",
                 class_name=str(cls), module=module)  # fmt: skip
    if cut:
        ctx.hit("models/archive-limit", f"{where}: more than {_MAX_NODES:,} values; the rest of "
                "the config (layers Keras still builds) was not checked", src,
                limit="max_nodes")  # fmt: skip


def analyze_keras_zip(
    src: Source,
    ctx: Context,
    files: list[ZipEntry],
    opener: Callable[[Context, Source, ZipEntry], tuple[IO[bytes], list[str]] | None],
) -> None:
    for entry in files:
        opened = opener(ctx, src, entry)
        if opened is None:
            continue
        stream, _ = opened
        with stream:
            if entry.name == "config.json":
                if entry.size > _MAX_CONFIG:
                    ctx.hit("models/archive-limit", f"config.json is larger than {_MAX_CONFIG} "
                            "bytes: not checked", src, limit="max_config")  # fmt: skip
                    continue
                config = load_json(stream.read(_MAX_CONFIG), src, ctx, "config.json")
                if config is not None:
                    check_config(config, src, ctx, "config.json")
            elif entry.name != "metadata.json":
                member = Source(stream, entry.size, entry.name.rsplit("/", 1)[-1],
                                src.child_member(entry.name), src.depth + 1)  # fmt: skip
                ctx.scan(member)


def analyze_hdf5(src: Source, ctx: Context) -> str:
    try:
        import h5py  # type: ignore[import-untyped]
    except ImportError:
        return _raw_hdf5(src, ctx)
    src.fp.seek(0)
    found = False
    try:
        with h5py.File(src.fp, "r") as f:
            for attr in ("model_config", "training_config"):
                if attr not in f.attrs:
                    continue
                found = True
                raw = f.attrs[attr]
                text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                config = load_json(text, src, ctx, f"{attr} attribute")
                if config is not None:
                    check_config(config, src, ctx, attr)
            check_links(f, src, ctx)
    except (KeyError, RuntimeError, ValueError) as exc:
        ctx.malformed("models/unrecognized-model-file", f"HDF5 links cannot be read: {exc}", src)
    except OSError as exc:
        ctx.malformed("models/unrecognized-model-file", f"HDF5 file cannot be read: {exc}", src)
    return "keras-h5" if found else "hdf5"


_RAW_LAMBDA = (b'"class_name": "Lambda"', b'"class_name":"Lambda"', b'"class_name": "__lambda__"',
               b'"class_name":"__lambda__"')  # fmt: skip


def _raw_hdf5(src: Source, ctx: Context) -> str:
    """Without h5py: look for Lambda layers in the raw bytes (the config is stored as text)."""
    src.fp.seek(0)
    tail = b""
    while chunk := src.fp.read(1 << 20):
        window = tail + chunk
        if any(m in window for m in _RAW_LAMBDA):
            ctx.hit("models/keras-lambda",
                    "a Lambda layer is declared in the HDF5 model config", src)  # fmt: skip
            break
        tail = chunk[-32:]
    return "hdf5"
