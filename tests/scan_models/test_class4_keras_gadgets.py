"""Class 4, Keras configs after CVE-2025-1550's fix: Keras' own functions that lift safe mode
(CVE-2025-9906: ``keras.config.enable_unsafe_deserialization`` or ``set_global_attribute``
reached from ``config.json``, then a Lambda), load or write (``keras.models.load_model`` as a
function reference), ``TFSMLayer`` (an outside SavedModel whose graph runs on every call), and
file paths in any object's config (KerasHub tokenizers' ``vocabulary``/``merges``/``proto``),
not only the lookup layers'. Each was a clean ``.keras`` file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from . import builders as b
from .conftest import Scan, rules


def _model(*layers: dict[str, Any]) -> bytes:
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "s", "layers": list(layers)}}  # fmt: skip
    return b.zip_bytes({"metadata.json": b'{"keras_version": "3.10.0"}',
                        "config.json": json.dumps(config).encode()})  # fmt: skip


def _activation(module: str, name: str) -> dict[str, Any]:
    fn = {"module": module, "class_name": "function", "config": name, "registered_name": "function"}
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": "d", "units": 2, "activation": fn}}  # fmt: skip


def _layer(module: str, cls: str, **config: Any) -> dict[str, Any]:
    return {"module": module, "class_name": cls, "config": {"name": "x", **config},
            "registered_name": None}  # fmt: skip


@pytest.mark.parametrize(
    ("layer", "rule"),
    [
        (_activation("keras.config", "enable_unsafe_deserialization"),
         "models/keras-dangerous-reference"),
        (_activation("keras.src.backend.common.global_state", "set_global_attribute"),
         "models/keras-dangerous-reference"),
        (_activation("keras.models", "load_model"), "models/keras-dangerous-reference"),
        (_activation("keras.src.saving.saving_api", "save_model"),
         "models/keras-dangerous-reference"),
        (_layer("keras.layers", "TFSMLayer", filepath="/tmp/other", call_endpoint="serve"),
         "models/keras-file-reference"),
        (_layer("keras_hub.tokenizers", "SentencePieceTokenizer", proto="/etc/passwd"),
         "models/keras-file-reference"),
        (_layer("keras_hub.tokenizers", "BytePairTokenizer", vocabulary={"a": 0},
                merges="https://example.com/merges.txt"), "models/keras-file-reference"),
    ],
    ids=["enable-unsafe", "set-global-attribute", "load-model", "save-model", "tfsm-layer",
         "tokenizer-proto", "tokenizer-merges"],
)  # fmt: skip
def test_keras_own_gadgets_and_file_paths_are_high(
    tmp_path: Path, scan: Scan, layer: dict[str, Any], rule: str
) -> None:
    (tmp_path / "m.keras").write_bytes(_model(layer))
    assert rule in rules(scan(tmp_path / "m.keras"), "m.keras")


def test_ordinary_keras_references_stay_clean(tmp_path: Path, scan: Scan) -> None:
    layers = [
        _activation("keras.activations", "relu"),
        _layer("keras.layers", "Dense", units=3, kernel_initializer={
            "module": "keras.initializers", "class_name": "GlorotUniform", "config": {}}),
        _layer("keras_hub.tokenizers", "BytePairTokenizer", vocabulary={"a": 0}, merges=["a b"]),
        _layer("keras.layers", "StringLookup", vocabulary=None),
    ]  # fmt: skip
    (tmp_path / "m.keras").write_bytes(_model(*layers))
    found = [r for r in rules(scan(tmp_path / "m.keras"), "m.keras") if r.startswith("models/k")]
    assert found == []


_LAMBDA_CODE = {"class_name": "__lambda__", "config": {"value": "4wEAAAAA"}}


@pytest.mark.parametrize("key", ["activation", "kernel_regularizer", "bias_constraint"])
def test_a_serialized_lambda_anywhere_is_high(tmp_path: Path, scan: Scan, key: str) -> None:
    """``Dense(activation=lambda x: ...)`` saves ``{"class_name": "__lambda__", "config":
    {"value": <marshal>}}``: ``deserialize_keras_object`` runs it with ``func_load`` when safe
    mode is off, as a Lambda layer's."""
    (tmp_path / "m.keras").write_bytes(
        _model(_layer("keras.layers", "Dense", **{key: _LAMBDA_CODE}))
    )
    assert "models/keras-lambda" in rules(scan(tmp_path / "m.keras"), "m.keras")
