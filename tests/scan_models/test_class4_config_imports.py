"""Class 4, configuration files that make a loader import code by name, beyond
transformers' ``auto_map``: sentence-transformers' ``modules.json`` (every module's ``type``
is imported; a ``module.py`` beside the weights is imported from a local folder even without
``trust_remote_code``), a CrossEncoder's activation function (imported and called on load),
``config.json``'s ``custom_pipelines``, and diffusers' ``model_index.json`` components from a
library that is neither diffusers' own nor a ``diffusers.pipelines`` module (custom code in
``<component>/<library>.py``). Each was clean (``modules.json`` and ``model_index.json`` were
not read)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Scan, rules


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("modules.json", [{"idx": 0, "name": "0", "path": "", "type":
                           "sentence_transformers.models.Transformer"},
                          {"idx": 1, "name": "1", "path": "1_Pooling", "type": "pool.Pooling"}]),
        ("modules.json", [{"idx": 0, "name": "0", "path": "x.bin", "type": "joblib.numpy_pickle"}]),
        ("config.json", {"sentence_transformers": {"activation_fn": "antigravity.geohash"}}),
        ("config.json", {"sbert_ce_default_activation_function": "pdb.set_trace"}),
        ("config.json", {"custom_pipelines": {"text-classification": {"impl": "p.MyPipeline"}}}),
        ("model_index.json", {"_class_name": "StableDiffusionPipeline",
                              "scheduler": ["my_sched", "MyScheduler"]}),
        ("model_index.json", {"_class_name": ["pipeline", "MyPipeline"]}),
        ("adapter_config.json", {"peft_type": "LORA", "auto_mapping": {
            "base_model_class": "Net", "parent_library": "my_models.net"}}),
    ],
    ids=["shipped-module", "installed-module-load", "activation", "old-activation",
         "custom-pipeline", "diffusers-custom-component", "diffusers-custom-pipeline",
         "peft-parent-library"],
)  # fmt: skip
def test_a_config_that_imports_code_by_name_is_high(
    tmp_path: Path, scan: Scan, name: str, content: Any
) -> None:
    (tmp_path / name).write_text(json.dumps(content))
    assert "models/shipped-python-code" in rules(scan(tmp_path / name), name)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("modules.json", [{"idx": 0, "name": "0", "path": "", "type":
                           "sentence_transformers.models.Transformer"},
                          {"idx": 1, "name": "1", "path": "1_Pooling", "type":
                           "sentence_transformers.models.Pooling"}]),
        ("config.json", {"sentence_transformers": {"activation_fn":
                                                   "torch.nn.modules.activation.Sigmoid"}}),
        ("model_index.json", {  # what StableDiffusionPipeline.save_pretrained writes
            "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
            "feature_extractor": ["transformers", "CLIPImageProcessor"],
            "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
            "scheduler": ["diffusers", "PNDMScheduler"], "image_encoder": [None, None],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "requires_safety_checker": True}),
        ("adapter_config.json", {"peft_type": "LORA", "task_type": None, "auto_mapping": {
            "base_model_class": "BertModel",
            "parent_library": "transformers.models.bert.modeling_bert"}}),
    ],
    ids=["sentence-transformers-modules", "torch-activation", "diffusers-index", "peft"],
)  # fmt: skip
def test_what_sentence_transformers_writes_stays_clean(
    tmp_path: Path, scan: Scan, name: str, content: Any
) -> None:
    (tmp_path / name).write_text(json.dumps(content))
    report = scan(tmp_path / name)
    assert "models/shipped-python-code" not in rules(report, name)
    assert not report.errors


def test_named_chat_templates_beside_the_model_are_judged(tmp_path: Path, scan: Scan) -> None:
    """transformers saves extra templates as ``additional_chat_templates/<name>.jinja``."""
    folder = tmp_path / "additional_chat_templates"
    folder.mkdir()
    (folder / "tool_use.jinja").write_text("{{ cycler.__init__.__globals__.os.popen('id') }}")
    report = scan(tmp_path)
    assert "models/gguf-template-injection" in rules(report, "tool_use.jinja")
