"""Keras models: HDF5 (``.h5``, Keras 2 ``model_config`` attribute) and Keras v3 ``.keras``
zips (``config.json``), following the Keras serialization format (``keras.saving``).

Flags ``Lambda`` layers (their Python code is marshalled into the config and runs on load with
``safe_mode=False`` or on old Keras) and objects whose ``module`` or ``registered_name`` points
outside Keras (custom code imported at load time). HDF5 attributes are read with ``h5py`` (the
``scan`` extra); without it, the raw bytes are searched for the config's JSON markers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from mlstix.scan.models._context import Context, Source
from mlstix.scan.models.formats.ziparchive import ZipEntry

__all__ = ["analyze_hdf5", "analyze_keras_zip", "check_config"]

_KERAS_MODULES = ("keras", "tf_keras", "tensorflow.keras", "keras_hub", "keras_nlp", "keras_cv")
_MAX_CONFIG = 64 << 20


def _walk(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 200:
        return
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v, depth + 1)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, depth + 1)


def _layer_name(node: dict[str, Any]) -> str:
    cfg = node.get("config")
    if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
        return str(cfg["name"])
    return "?"


def check_config(config: Any, src: Source, ctx: Context, where: str) -> None:
    """Flag Lambda layers and non-Keras modules anywhere in a Keras config."""
    seen: set[tuple[str, str]] = set()
    for node in _walk(config):
        cls = node.get("class_name")
        if cls == "Lambda":
            name = _layer_name(node)
            ctx.hit(
                "models/keras-lambda",
                f"{where}: Lambda layer {name!r} carries serialized Python code",
                src,
                layer=name,
            )
        module = node.get("module")
        registered = node.get("registered_name")
        outside = None
        if isinstance(module, str) and module and not module.startswith(_KERAS_MODULES):
            outside = module
        elif isinstance(registered, str) and ">" in registered:
            package = registered.split(">", 1)[0]
            if not package.startswith(_KERAS_MODULES):
                outside = registered
        if outside and (str(cls), outside) not in seen:
            seen.add((str(cls), outside))
            ctx.hit(
                "models/keras-custom-object",
                f"{where}: {cls} comes from {outside!r}, imported when the model loads",
                src,
                class_name=str(cls),
                module=outside,
            )


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
                try:
                    config = json.loads(stream.read(_MAX_CONFIG))
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    ctx.hit("models/unrecognized-model-file",
                            f"config.json is not valid JSON: {exc}", src)  # fmt: skip
                    continue
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
                try:
                    config = json.loads(text)
                except json.JSONDecodeError as exc:
                    ctx.hit("models/unrecognized-model-file",
                            f"{attr} attribute is not valid JSON: {exc}", src)  # fmt: skip
                    continue
                check_config(config, src, ctx, attr)
    except OSError as exc:
        ctx.hit("models/unrecognized-model-file", f"HDF5 file cannot be read: {exc}", src)
    return "keras-h5" if found else "hdf5"


def _raw_hdf5(src: Source, ctx: Context) -> str:
    """Without h5py: look for Lambda layers in the raw bytes (the config is stored as text)."""
    src.fp.seek(0)
    tail = b""
    while chunk := src.fp.read(1 << 20):
        window = tail + chunk
        if b'"class_name": "Lambda"' in window or b'"class_name":"Lambda"' in window:
            ctx.hit("models/keras-lambda",
                    "a Lambda layer is declared in the HDF5 model config", src)  # fmt: skip
            break
        tail = chunk[-32:]
    return "hdf5"
