"""The library entry point the model scanner's "Unsigned ML Models" check calls."""

from __future__ import annotations

import pytest

from mlstix.errors import UsageError
from mlstix.integrity import (
    HashOptions,
    KeySigner,
    VerificationResult,
    check_signature,
    find_signature,
    sign_model,
)
from mlstix.integrity.verify import diff_manifests


def test_unsigned_model(model):
    assert find_signature(model) is None
    result = check_signature(model)
    assert result == VerificationResult(
        verified=False,
        method=None,
        signer=None,
        message=result.message,
    )
    assert "is not signed" in result.message


def test_signature_found_beside_folder_and_file(model, keys, tmp_path):
    sig = sign_model(model, KeySigner(keys.private)).signature_path
    assert find_signature(model) == sig == model / "model.sig"
    outside = tmp_path / "tiny-bert.sig"
    sig.rename(outside)
    assert find_signature(model) == outside
    assert check_signature(model, public_key=keys.public).verified


def test_without_trust_the_files_are_still_compared(model, keys):
    sign_model(model, KeySigner(keys.private), options=HashOptions(algorithm="blake3"))
    result = check_signature(model)
    assert (result.verified, result.authenticated, result.intact) == (False, False, True)
    assert result.method == "key" and result.signer.startswith("public key sha256:")
    (model / "config.json").write_text("{}")
    result = check_signature(model)
    assert result.intact is False and result.changed == ("config.json",)


def test_verified_result_is_frozen_and_serializable(model, keys):
    sign_model(model, KeySigner(keys.private))
    result = check_signature(model, public_key=keys.public)
    assert result.verified and result.intact and result.authenticated
    with pytest.raises(AttributeError):
        result.verified = False  # type: ignore[misc]
    assert result.as_dict()["signature"] == str(model / "model.sig")


def test_missing_model_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        check_signature(tmp_path / "nope")


def test_diff_of_shards_groups_by_file():
    signed = {"a:0:10": "1", "a:10:20": "2", "b:0:5": "3"}
    fresh = {"a:0:10": "1", "a:10:20": "X", "c:0:1": "4"}
    assert diff_manifests(signed, fresh, sharded=True) == (("a",), ("c",), ("b",))
    assert diff_manifests({"x": "1"}, {"x": "1"}) == ((), (), ())


def test_forged_tiny_shard_size_cannot_flood_the_verifier(model, keys):
    """An unauthenticated statement must not make the verifier queue a task per byte."""
    import base64
    import json

    sign_model(model, KeySigner(keys.private), options=HashOptions(shard_size=100_000))
    sig = model / "model.sig"
    bundle = json.loads(sig.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["serialization"]["shard_size"] = 1
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    sig.write_text(json.dumps(bundle))
    result = check_signature(model, public_key=keys.public)
    assert not result.verified
    assert "far more than the signature lists" in result.message
