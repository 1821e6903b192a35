"""mlstix bom: a CycloneDX 1.6 ML-BOM that validates against the schema the library ships."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from integrity_helpers import flat

from mlstix.integrity.bom import build_bom, find_bom, validate_bom

CARD = """---
license: apache-2.0
pipeline_tag: text-classification
library_name: transformers
datasets:
  - imdb
  - sst2
tags: [sentiment, bert]
base_model: bert-base-uncased
---
# tiny-bert

A fine-tuned BERT.
"""


def _model_component(bom: dict) -> dict:
    [component] = [c for c in bom["components"] if c["type"] == "machine-learning-model"]
    return component


def _bom(run, model, *extra) -> dict:
    result = run("bom", model, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_bom_validates_and_hashes_every_file(run, model):
    bom = _bom(run, model)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    assert validate_bom(json.dumps(bom)) == []
    component = _model_component(bom)
    files = {f["name"]: f["hashes"][0] for f in component["components"]}
    assert set(files) == {
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "tokenizer/vocab.txt",
    }
    for name, digest in files.items():
        assert digest["alg"] == "SHA-256"
        assert digest["content"] == hashlib.sha256((model / name).read_bytes()).hexdigest()


def test_model_card_from_readme_front_matter_and_config(run, model):
    (model / "README.md").write_text(CARD)
    (model / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["BertForSequenceClassification"],
                "model_type": "bert",
                "transformers_version": "4.44.2",
            }
        )
    )
    (model / "requirements.txt").write_text("torch==2.3.1\nnumpy>=1.26  # any\n-e .\n")
    bom = _bom(run, model)
    component = _model_component(bom)
    params = component["modelCard"]["modelParameters"]
    assert params["task"] == "text-classification"
    assert params["architectureFamily"] == "transformer"
    assert params["modelArchitecture"] == "BertForSequenceClassification"
    assert params["datasets"] == [
        {"type": "dataset", "name": "imdb"},
        {"type": "dataset", "name": "sst2"},
    ]
    assert params["inputs"] == [{"format": "text"}] and params["outputs"] == [{"format": "label"}]
    assert component["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert component["tags"] == ["bert", "sentiment"]
    frameworks = {
        c["name"]: c.get("version") for c in bom["components"] if c["type"] == "framework"
    }
    assert frameworks == {"numpy": None, "torch": "2.3.1", "transformers": "4.44.2"}
    [dependency] = [d for d in bom["dependencies"] if d["ref"] == "model"]
    assert sorted(dependency["dependsOn"]) == [
        "framework:numpy",
        "framework:torch",
        "framework:transformers",
    ]
    assert {"type": "model-card", "url": "README.md"} in component["externalReferences"]
    assert validate_bom(json.dumps(bom)) == []


def test_config_alone_gives_task_and_architecture(run, model):
    (model / "config.json").write_text(
        json.dumps(
            {"architectures": ["ResNetForImageClassification"], "task": "image-classification"}
        )
    )
    params = _model_component(_bom(run, model))["modelCard"]["modelParameters"]
    assert params["task"] == "image-classification"
    assert params["modelArchitecture"] == "ResNetForImageClassification"
    assert params["inputs"] == [{"format": "image"}]


def test_signature_is_an_external_reference(run, model, keys):
    run("sign", model, "--private-key", keys.private)
    component = _model_component(_bom(run, model))
    [ref] = [r for r in component["externalReferences"] if r["type"] == "digital-signature"]
    assert ref["url"] == "model.sig"
    sig_hash = hashlib.sha256((model / "model.sig").read_bytes()).hexdigest()
    assert ref["hashes"] == [{"alg": "SHA-256", "content": sig_hash}]
    assert "signed by public key sha256:" in ref["comment"]
    assert "model.sig" not in {f["name"] for f in component["components"]}


def test_unsigned_model_has_no_signature_reference(run, model):
    component = _model_component(_bom(run, model))
    assert all(r["type"] != "digital-signature" for r in component.get("externalReferences", []))


@pytest.mark.parametrize(
    ("readme", "config", "warning"),
    [
        ("---\nlicense: [unclosed\n---\n", None, "front matter is not valid YAML"),
        ("---\n- a list\n---\n", None, "front matter is not a mapping"),
        (None, "{not json", "config.json is not valid JSON"),
        (None, "[1, 2]", "config.json is not a JSON object"),
    ],
)
def test_malformed_card_or_config_warns_and_still_writes_a_valid_bom(
    run, model, readme, config, warning
):
    if readme is not None:
        (model / "README.md").write_text(readme)
    if config is not None:
        (model / "config.json").write_text(config)
    result = run("bom", model)
    assert result.exit_code == 0
    assert warning in flat(result.stderr)
    assert validate_bom(result.stdout) == []


def test_output_file_is_written_atomically_and_left_out_of_the_bom(run, model, monkeypatch):
    out = model / "bom.cdx.json"
    result = run("bom", model, "--output", out)
    assert result.exit_code == 0
    bom = json.loads(out.read_text())
    assert "bom.cdx.json" not in {f["name"] for f in _model_component(bom)["components"]}
    assert find_bom(model) == out
    assert not list(model.glob(".bom.cdx.json.*.tmp"))


def test_failed_bom_leaves_no_output(run, model, tmp_path):
    (model / "loop").symlink_to(model / "config.json")
    out = tmp_path / "bom.json"
    result = run("bom", model, "--output", out)
    assert result.exit_code == 2
    assert "symlink" in flat(result.output)
    assert not out.exists()


def test_same_model_same_bom(model, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = build_bom(model).text
    assert build_bom(model).text == first
    assert json.loads(first)["metadata"]["timestamp"].startswith("2023-11-14T22:13:20")


def test_single_file_model_carries_its_own_hash(run, tmp_path):
    weights = tmp_path / "classifier.onnx"
    weights.write_bytes(b"\x08\x07onnx")
    component = _model_component(_bom(run, weights))
    assert component["name"] == "classifier.onnx"
    assert component["hashes"][0]["content"] == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_validation_is_not_vacuous(model):
    bom = json.loads(build_bom(model).text)
    _model_component(bom)["modelCard"]["modelParameters"]["approach"] = {"type": "guesswork"}
    problems = validate_bom(json.dumps(bom))
    assert problems and "guesswork" in problems[0]
    bom = json.loads(build_bom(model).text)
    bom["components"][0]["hashes"] = [{"alg": "SHA-256", "content": "zz"}]
    assert validate_bom(json.dumps(bom))


def test_find_bom_ignores_other_json(tmp_path: Path, model):
    (model / "bom.json").write_text('{"bomFormat": "CycloneDX", "components": []}')
    assert find_bom(model) is None
    (model / "bom.json").write_text("garbage")
    assert find_bom(model) is None
