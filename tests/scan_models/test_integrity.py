"""Unsigned ML Models and Inadequate ML Provenance Tracking, mapped to the knowledge base."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstix.findings.model import Severity
from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.models import ScanOptions, Trust, scan_models
from tests.keys import write_key

from . import builders as b
from .conftest import Scan, rules


def _model(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(
        b.safetensors({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)
    )
    (folder / "config.json").write_text("{}")
    return folder


def test_unsigned_and_unprovenanced_model(tmp_path: Path, scan: Scan, kb: KnowledgeBase) -> None:
    _model(tmp_path / "bert")
    report = scan(tmp_path)
    by_rule = {f.rule_id: f for f in report.findings}
    assert sorted(by_rule) == ["models/no-provenance", "models/unsigned-model"]
    unsigned = by_rule["models/unsigned-model"]
    assert unsigned.vulnerability == "unsigned-ml-models"
    assert unsigned.title == kb.vulnerability("unsigned-ml-models").name
    assert unsigned.courses_of_action == ("implement-ml-model-signing-with-sigstore",)
    prov = by_rule["models/no-provenance"]
    assert prov.vulnerability == "inadequate-ml-provenance-tracking"
    assert prov.courses_of_action == ("establish-ml-model-provenance-framework",)
    assert prov.title == kb.vulnerability("inadequate-ml-provenance-tracking").name


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # "x" is where a signature should be, but is none: never counted as signed
        ({"bert/model.sig": "x"}, ["models/no-provenance", "models/signature-malformed"]),
        ({"model.sig": "x"}, ["models/no-provenance", "models/signature-malformed"]),  # parent
        ({"bert.sig": "x"}, ["models/no-provenance", "models/signature-malformed"]),
        (
            {"bert/model.safetensors.sig": "x"},
            ["models/no-provenance", "models/signature-malformed"],
        ),
        ({"bert/model.cdx.json": "{}"}, ["models/unsigned-model"]),
        ({"bom.json": "{}", "bert/model.sig": "x"}, ["models/signature-malformed"]),
        ({"bert/attestation.intoto.jsonl": "{}"}, ["models/unsigned-model"]),
        ({"bert/unrelated.json": "{}"}, ["models/no-provenance", "models/unsigned-model"]),
    ],
)
def test_signature_and_provenance_files(
    tmp_path: Path, scan: Scan, files: dict[str, str], expected: list[str]
) -> None:
    _model(tmp_path / "bert")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert rules(scan(tmp_path)) == expected


def test_signature_verified_against_a_key(tmp_path: Path, kb: KnowledgeBase) -> None:
    pytest.importorskip("model_signing")
    from mlstix.integrity.sign import KeySigner, sign_model

    keys = tmp_path / "keys"
    keys.mkdir()
    pair = write_key(keys, "good")
    private, public = pair.private, pair.public
    other = write_key(keys, "other").public
    model = _model(tmp_path / "models" / "bert")
    sign_model(model, KeySigner(private), signature_path=model / "model.sig")

    def run(pub: Path) -> list[tuple[str, Severity]]:
        report = scan_models(
            [str(tmp_path / "models")], kb, ScanOptions(jobs=1, trust=Trust(public_key=pub))
        )
        return [
            (f.rule_id, f.severity)
            for f in report.findings
            if f.vulnerability == "unsigned-ml-models"
        ]

    assert run(public) == []
    assert run(other) == [("models/signature-invalid", Severity.CRITICAL)]
    # the same well-formed signature with nothing to verify it against: unverified, not signed
    report = scan_models([str(tmp_path / "models")], kb, ScanOptions(jobs=1))
    assert [
        (f.rule_id, f.severity) for f in report.findings if f.vulnerability == "unsigned-ml-models"
    ] == [("models/signature-unverified", Severity.MEDIUM)]
    assert "models/signature-unverified" in report.rules_run
    (model / "model.safetensors").write_bytes((model / "model.safetensors").read_bytes() + b"x")
    assert run(public) == [("models/signature-invalid", Severity.CRITICAL)]
