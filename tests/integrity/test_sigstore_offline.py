"""Sigstore keyless: the parts that run offline.

Signing needs the network (OIDC, Fulcio, Rekor) and is not exercised here. Verification is:
the identity and issuer named in a bundle's certificate are checked before anything else, and
a trust config (``--trust-config``) makes the cryptographic check run without the network.
The bundle here carries a self-made certificate in Fulcio's shape (SAN e-mail, OIDC issuer
extension 1.3.6.1.4.1.57264.1.8), so it must never verify.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import sigstore
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from integrity_helpers import flat, make_cert

from mlstix.integrity import check_signature

ISSUER = "https://accounts.example.com"
IDENTITY = "alice@example.com"


def _issuer_extension(issuer: str) -> x509.UnrecognizedExtension:
    value = issuer.encode()
    return x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), bytes([0x0C, len(value)]) + value
    )


@pytest.fixture
def sigstore_signed(run, model, keys) -> Path:
    """The model signed, then re-wrapped as a keyless bundle with a Fulcio-shaped certificate."""
    assert run("sign", model, "--private-key", keys.private).exit_code == 0
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(
        "sigstore",
        key,
        None,
        ca=False,
        san=[x509.RFC822Name(IDENTITY)],
        extensions=[_issuer_extension(ISSUER)],
    )
    sig = model / "model.sig"
    bundle = json.loads(sig.read_text())
    raw = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    bundle["verificationMaterial"] = {"certificate": {"rawBytes": raw}, "tlogEntries": []}
    sig.write_text(json.dumps(bundle))
    return sig


@pytest.fixture
def trust_config(tmp_path: Path) -> Path:
    """A ClientTrustConfig assembled from the trust root sigstore-python ships (no network)."""
    store = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads((store / "trusted_root.json").read_text()),
        "signingConfig": json.loads((store / "signing_config.v0.2.json").read_text()),
    }
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(config))
    return path


def test_the_bundle_is_recognized_as_sigstore_with_its_identity(sigstore_signed, model):
    result = check_signature(model)
    assert result.method == "sigstore"
    assert result.signer == f"{IDENTITY} (issuer {ISSUER})"
    assert not result.verified and not result.authenticated


def test_wrong_identity_fails_precisely(run, sigstore_signed, model, trust_config):
    result = run(
        "verify",
        model,
        "--identity",
        "bob@example.com",
        "--identity-provider",
        ISSUER,
        "--trust-config",
        trust_config,
    )
    assert result.exit_code == 1
    assert (
        f"the signature was made by identity {IDENTITY}, not the trusted bob@example.com"
        in flat(result.stderr)
    )


def test_wrong_issuer_fails_precisely(run, sigstore_signed, model, trust_config):
    result = run(
        "verify",
        model,
        "--identity",
        IDENTITY,
        "--identity-provider",
        "https://evil.example",
        "--trust-config",
        trust_config,
    )
    assert result.exit_code == 1
    assert (
        f"the signer's identity was issued by {ISSUER}, not the trusted https://evil.example"
        in flat(result.stderr)
    )


def test_right_identity_but_no_fulcio_certificate_fails_offline(
    run, sigstore_signed, model, trust_config
):
    result = run(
        "verify",
        model,
        "--identity",
        IDENTITY,
        "--identity-provider",
        ISSUER,
        "--trust-config",
        trust_config,
    )
    assert result.exit_code == 1
    # past the identity check, sigstore-python itself rejects the bundle, without network
    assert "is not trusted: the signature is not a valid Sigstore bundle" in flat(result.stderr)


def test_a_sigstore_bundle_is_not_accepted_by_a_key(run, sigstore_signed, model, keys):
    result = run("verify", model, "--public-key", keys.public)
    assert result.exit_code == 1
    assert "was made with Sigstore keyless signing but public key" in flat(result.stderr)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "is not a Sigstore ClientTrustConfig"),
        ('{"mediaType": "x"}', "is not a Sigstore ClientTrustConfig"),
    ],
)
def test_bad_trust_config_is_a_usage_error(
    run, sigstore_signed, model, tmp_path, content, expected
):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = run(
        "verify",
        model,
        "--identity",
        IDENTITY,
        "--identity-provider",
        ISSUER,
        "--trust-config",
        bad,
    )
    assert result.exit_code == 2
    assert f"trust config {bad} {expected}" in flat(result.output)


def test_sigstore_argument_handling(run, model, keys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    cases = [
        (["verify", model, "--identity", IDENTITY], "--identity-provider is missing"),
        (["verify", model, "--sigstore"], "needs --identity and --identity-provider"),
        (["verify", model, "--identity-provider", ISSUER], "--identity is missing"),
        (["verify", model, "--public-key", keys.public, "--trust-config", bad], "add --identity"),
        (
            ["sign", model, "--identity-token", "t", "--private-key", keys.private],
            "apply to --sigstore",
        ),
        (
            ["sign", model, "--sigstore", "--trust-config", bad],
            "is not a Sigstore ClientTrustConfig",
        ),
    ]
    for args, expected in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in flat(result.output), args
    assert not (model / "model.sig").exists()
