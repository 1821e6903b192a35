"""Builders for the integrity tests: a small multi-file model, EC keys and a tiny PKI."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.keys import KeyPair as KeyPair  # re-exported for the integrity tests
from tests.keys import write_key as write_key


@dataclass(frozen=True)
class Pki:
    root: Path  # trusted root certificate (PEM)
    intermediate: Path
    leaf_key: Path
    leaf_cert: Path


def certificate_signing_args(pki: Pki) -> list[str | Path]:
    """The `mlstix sign` options of the certificate method with the leaf of ``pki``."""
    return [
        "--private-key",
        pki.leaf_key,
        "--signing-certificate",
        pki.leaf_cert,
        "--certificate-chain",
        pki.intermediate,
    ]


def make_cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    extensions: list[x509.ExtensionType] = (),  # type: ignore[assignment]
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def write_pki(folder: Path, name: str = "pki") -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP256R1())
    mid_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = make_cert(f"{name} root", root_key, None, ca=True)
    mid = make_cert(f"{name} intermediate", mid_key, (f"{name} root", root_key), ca=True)
    leaf = make_cert("model signer", leaf_key, (f"{name} intermediate", mid_key), ca=False)
    pem = serialization.Encoding.PEM
    paths = Pki(
        folder / f"{name}-root.pem",
        folder / f"{name}-intermediate.pem",
        folder / f"{name}-leaf.key",
        folder / f"{name}-leaf.pem",
    )
    paths.root.write_bytes(root.public_bytes(pem))
    paths.intermediate.write_bytes(mid.public_bytes(pem))
    paths.leaf_cert.write_bytes(leaf.public_bytes(pem))
    paths.leaf_key.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def make_model(folder: Path) -> Path:
    """A small multi-file model: weights in two shards, config, tokenizer in a subfolder."""
    model = folder / "tiny-bert"
    (model / "tokenizer").mkdir(parents=True)
    (model / "model-00001-of-00002.safetensors").write_bytes(bytes(range(256)) * 4096)
    (model / "model-00002-of-00002.safetensors").write_bytes(b"\x07" * 300_000)
    (model / "config.json").write_text('{"model_type": "bert", "architectures": ["BertModel"]}')
    (model / "tokenizer" / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n")
    (model / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    return model


def flat(text: str) -> str:
    """Terminal output with rich's line wrapping undone."""
    return " ".join(text.split())
