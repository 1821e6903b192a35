"""The certificate-chain method, offline: a small CA, an intermediate and a code-signing leaf."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ec
from integrity_helpers import certificate_signing_args, flat, make_cert, write_pki

from mlstix.integrity import check_signature


def _sign(run, model, pki):
    result = run("sign", model, *certificate_signing_args(pki))
    assert result.exit_code == 0, result.output


def test_chain_to_the_trusted_root_verifies(run, model, pki):
    _sign(run, model, pki)
    result = run("verify", model, "--certificate-chain", pki.root, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["method"] == "certificate"
    assert report["signer"] == "CN=model signer"


def test_a_different_root_is_not_trusted(run, model, pki, tmp_path):
    _sign(run, model, pki)
    stranger = write_pki(tmp_path / "other", "other")
    result = run("verify", model, "--certificate-chain", stranger.root)
    assert result.exit_code == 1
    out = flat(result.stderr)
    assert "the signing certificate (CN=model signer) does not chain to the trusted" in out
    assert "unable to get local issuer certificate" in out


def test_certificate_signature_is_not_accepted_as_a_key_signature(run, model, pki, keys):
    _sign(run, model, pki)
    result = run("verify", model, "--public-key", keys.public)
    assert result.exit_code == 1
    assert "was made with a certificate chain but public key" in flat(result.stderr)


def test_certificate_that_does_not_match_the_key_is_refused(run, model, pki, keys):
    result = run(
        "sign",
        model,
        "--private-key",
        keys.private,
        "--signing-certificate",
        pki.leaf_cert,
        "--certificate-chain",
        pki.intermediate,
    )
    assert result.exit_code == 2
    assert "does not match the public key" in flat(result.output)
    assert not (model / "model.sig").exists()


def test_leaf_without_signing_usage_is_rejected(model, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    from mlstix.integrity import CertificateSigner, sign_model

    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = make_cert("root", ca_key, None, ca=True)
    leaf = make_cert("no-sign", leaf_key, ("root", ca_key), ca=False)
    # a leaf whose key usage forbids signatures
    leaf = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.issuer)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
        .add_extension(
            x509.KeyUsage(False, False, True, False, False, False, False, False, False), True
        )
        .sign(
            ca_key,
            hashes.SHA256(),
        )
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "root.pem").write_bytes(root.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    sign_model(
        model,
        CertificateSigner(tmp_path / "leaf.key", tmp_path / "leaf.pem", (tmp_path / "root.pem",)),
    )
    result = check_signature(model, certificate_chain=[tmp_path / "root.pem"])
    assert not result.verified
    assert "cannot be used for signing" in result.message


def test_certificate_method_without_chain_or_with_garbage_is_a_usage_error(run, model, pki):
    base = ["sign", model, "--private-key", pki.leaf_key, "--signing-certificate", pki.leaf_cert]
    result = run(*base)
    assert result.exit_code == 2
    assert "needs --certificate-chain" in flat(result.output)
    result = run(*base, "--certificate-chain", pki.leaf_key)
    assert result.exit_code == 2
    assert f"certificate chain file {pki.leaf_key} holds no PEM certificate" in flat(result.output)
    assert not (model / "model.sig").exists()
