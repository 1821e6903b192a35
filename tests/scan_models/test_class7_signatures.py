"""Class 7 of issue 10: a signature file is not a signature. A ``model.sig`` that is not a
well-formed Sigstore bundle (what ``model_signing`` writes) is a finding; a well-formed one with
nothing to verify it against is unverified, never counted as signed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mlstix.scan.models._integrity import bundle_problem

from . import builders as b
from .conftest import Scan


def _bundle(**change: object) -> dict[str, object]:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "bert", "digest": {"sha256": "00" * 32}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {},
    }
    doc: dict[str, object] = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": "k"}},
        "dsseEnvelope": {
            "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": "MEUCIQ=="}],
        },
    }
    doc.update(change)
    return doc


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is not JSON"),
        ("[]", "is not a JSON object"),
        (json.dumps(_bundle(mediaType="application/json")), "has no Sigstore bundle mediaType"),
        (json.dumps(_bundle(verificationMaterial={})), "has no verificationMaterial"),
        (json.dumps(_bundle(dsseEnvelope=None)), "has no dsseEnvelope"),
        (
            json.dumps(_bundle(dsseEnvelope={"payload": "e30=", "signatures": []})),
            "without signatures",
        ),
        (
            json.dumps(_bundle(dsseEnvelope={"payload": "%%", "signatures": [{"sig": "x"}]})),
            "not base64-encoded JSON",
        ),
        (
            json.dumps(_bundle(dsseEnvelope={"payload": "e30=", "signatures": [{"sig": "x"}]})),
            "not an in-toto statement",
        ),
        ("[" * 100_000, "is not JSON"),
    ],
)
def test_what_is_not_a_bundle(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "model.sig").write_text(text)
    found = bundle_problem(str(tmp_path / "model.sig"))
    assert found is not None and problem in found


def test_a_well_formed_bundle(tmp_path: Path) -> None:
    (tmp_path / "model.sig").write_text(json.dumps(_bundle()))
    assert bundle_problem(str(tmp_path / "model.sig")) is None


def test_findings_in_a_scan(tmp_path: Path, scan: Scan) -> None:
    for name, sig in {"a": "not a bundle", "b": json.dumps(_bundle())}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(
            b.safetensors({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)
        )
        (tmp_path / name / "model.sig").write_text(sig)
    report = scan(tmp_path)
    got = sorted(
        (Path(f.location.path).parent.name, f.rule_id, f.severity.value)
        for f in report.findings
        if f.vulnerability == "unsigned-ml-models"
    )
    assert got == [
        ("a", "models/signature-malformed", "high"),
        ("b", "models/signature-unverified", "medium"),
    ]
