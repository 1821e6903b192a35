"""Class 5, walks with a budget that stopped without a word: a Keras config walked past
2,000,000 values, a Hydra config past 1,000,000, a chat template past 200,000 nodes left the
rest unread and the file clean (a Lambda layer after a long padding list; a ``_target_`` after
it; a sandbox escape at the end of a template). Past the budget the file is now
``models/archive-limit`` (high; the template's rest counts as names built at run time), and a
``config.json`` too large to read is too. The budgets are lowered here so the files stay
small."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlstix.scan.models.formats import _jinja, hydra, keras

from . import builders as b
from .conftest import Scan, rules

_PAD = list(range(200))


def _keras_zip(config: object) -> bytes:
    return b.zip_bytes({"config.json": json.dumps(config).encode(), "metadata.json": b"{}"})


def test_a_keras_config_past_the_budget_is_high(
    tmp_path: Path, scan: Scan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keras, "_MAX_NODES", 100)
    layers = [{"class_name": "Dense", "config": {"pad": _PAD}},
              {"class_name": "Lambda", "config": {"function": "x"}}]  # fmt: skip
    (tmp_path / "m.keras").write_bytes(_keras_zip({"class_name": "Sequential",
                                                   "config": {"layers": layers}}))  # fmt: skip
    found = rules(scan(tmp_path, isolate=False))
    assert "models/archive-limit" in found


def test_a_keras_config_within_the_budget_is_walked_whole(
    tmp_path: Path, scan: Scan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keras, "_MAX_NODES", 100_000)
    layers = [{"class_name": "Dense", "config": {"pad": _PAD}}]
    (tmp_path / "m.keras").write_bytes(_keras_zip({"class_name": "Sequential",
                                                   "config": {"layers": layers}}))  # fmt: skip
    assert "models/archive-limit" not in rules(scan(tmp_path, isolate=False))


def test_a_keras_config_too_large_to_read_is_high(
    tmp_path: Path, scan: Scan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keras, "_MAX_CONFIG", 64)
    (tmp_path / "m.keras").write_bytes(_keras_zip({"class_name": "Sequential", "pad": _PAD}))
    found = rules(scan(tmp_path, isolate=False))
    assert "models/archive-limit" in found
    assert "models/unrecognized-model-file" not in found  # not read half and called broken


def test_a_hydra_config_past_the_budget_is_high(
    tmp_path: Path, scan: Scan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hydra, "_MAX_NODES", 100)
    pad = "".join(f"  - {i}\n" for i in range(200))
    (tmp_path / "model_config.yaml").write_text(
        f"pad:\n{pad}model:\n  _target_: nemo.collections.asr.models.EncDecCTCModel\n"
    )
    assert "models/archive-limit" in rules(scan(tmp_path, isolate=False))


def test_a_chat_template_past_the_budget_counts_as_built_at_run_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("jinja2")
    monkeypatch.setattr(_jinja, "_MAX_NODES", 50)
    template = "{{ 'x' }}" * 100 + "{{ cycler.__init__.__globals__ }}"
    assert _jinja.COMPUTED in _jinja.accessed_names(template)
    assert _jinja.COMPUTED not in _jinja.accessed_names("{{ 'x' }}" * 5)
