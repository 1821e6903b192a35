"""Reading an OpenSSF model-signing signature file without trusting it.

The file is a Sigstore bundle (v0.3 JSON, https://docs.sigstore.dev/about/bundle/) whose
``dsseEnvelope`` wraps an in-toto Statement v1 (predicate type
``https://model_signing/signature/v1.0``) listing every file (or shard) of the model with its
digest. This module parses that structure with precise errors and tells which signing method
made it (public key, certificate chain, Sigstore keyless) and who claims to have signed it. It
checks nothing cryptographic: :mod:`mlstix.integrity.verify` does that through `model-signing`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlstix.integrity.errors import SignatureError

__all__ = ["ManifestEntry", "Method", "SignatureFile", "read_signature"]

Method = Literal["key", "certificate", "sigstore"]

_PREDICATE_TYPES = ("https://model_signing/signature/v1.0", "https://model_signing/Digests/v0.1")
_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_MAX_SIGNATURE_BYTES = 256 << 20  # a manifest of millions of shards stays far below this

# Fulcio certificate extensions naming the OIDC issuer (v1: raw string, v2: DER UTF8String).
_OID_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
_OID_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"


@dataclass(frozen=True)
class ManifestEntry:
    """One resource of the signed manifest: a file, or a shard ``path:start:end``."""

    name: str
    algorithm: str
    digest: str


@dataclass(frozen=True)
class SignatureFile:
    """What a signature file claims, before any verification."""

    path: Path
    method: Method
    signer: str
    model_name: str
    serialization: dict[str, Any]
    entries: tuple[ManifestEntry, ...]
    certificates: tuple[bytes, ...]  # DER, leaf first
    key_hint: str | None

    @property
    def sharded(self) -> bool:
        return self.serialization.get("method") == "shards"


def _fail(path: Path, what: str) -> SignatureError:
    return SignatureError(
        f"signature file {path} {what}",
        hint="re-create it with `mlstix sign` or `model_signing sign`; a signature that was "
        "truncated or edited cannot be repaired",
    )


def _b64(path: Path, value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise _fail(path, f"is not a Sigstore bundle: {field} is missing or not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail(path, f"is damaged: {field} is not valid base64 ({exc})") from None


def _obj(path: Path, parent: Any, key: str, where: str) -> Any:
    if not isinstance(parent, dict) or key not in parent:
        raise _fail(path, f"is not a Sigstore bundle: {where}{key} is missing")
    return parent[key]


def read_signature(path: Path) -> SignatureFile:
    """Parse ``path``; raise :class:`SignatureError` naming exactly what is wrong with it."""
    try:
        size = path.stat().st_size
        if size > _MAX_SIGNATURE_BYTES:
            raise _fail(path, f"is {size} bytes, larger than any model signature")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SignatureError(
            f"signature file {path} does not exist",
            hint="sign the model with `mlstix sign`, or pass --signature",
        ) from None
    except IsADirectoryError:
        raise SignatureError(f"signature path {path} is a folder, not a file") from None
    except OSError as exc:
        raise SignatureError(f"cannot read signature file {path}: {exc.strerror}") from None
    if not raw.strip():
        raise _fail(path, "is empty")
    try:
        bundle = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail(path, "is not text: it is not a Sigstore bundle (JSON)") from None
    except json.JSONDecodeError as exc:
        raise _fail(
            path, f"is not valid JSON (truncated or garbage?): {exc.msg} at byte {exc.pos}"
        ) from None
    except RecursionError:
        raise _fail(path, "is not a Sigstore bundle: its JSON is nested too deeply") from None
    if not isinstance(bundle, dict):
        raise _fail(path, "is not a Sigstore bundle: the JSON is not an object")
    media = bundle.get("mediaType")
    if not isinstance(media, str) or not media.startswith("application/vnd.dev.sigstore.bundle"):
        raise _fail(path, f"is not a Sigstore bundle: mediaType is {media!r}")
    material = _obj(path, bundle, "verificationMaterial", "")
    envelope = _obj(path, bundle, "dsseEnvelope", "")
    payload_type = _obj(path, envelope, "payloadType", "dsseEnvelope.")
    if payload_type != _PAYLOAD_TYPE:
        raise _fail(path, f"does not carry an in-toto statement: payloadType is {payload_type!r}")
    signatures = _obj(path, envelope, "signatures", "dsseEnvelope.")
    if not isinstance(signatures, list) or not signatures:
        raise _fail(path, "holds no signature: dsseEnvelope.signatures is empty")
    _b64(path, signatures[0].get("sig") if isinstance(signatures[0], dict) else None, "sig")
    payload = _b64(path, envelope.get("payload"), "dsseEnvelope.payload")
    try:
        statement = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _fail(path, f"is damaged: its in-toto statement is not JSON ({exc})") from None
    method, signer, certs, hint = _signer_of(path, material)
    model_name, serialization, entries = _manifest_of(path, statement)
    return SignatureFile(path, method, signer, model_name, serialization, entries, certs, hint)


def _signer_of(path: Path, material: Any) -> tuple[Method, str, tuple[bytes, ...], str | None]:
    if not isinstance(material, dict):
        raise _fail(path, "is not a Sigstore bundle: verificationMaterial is not an object")
    if "publicKey" in material:
        key = material["publicKey"]
        hint = key.get("hint") if isinstance(key, dict) else None
        hint = hint if isinstance(hint, str) and hint else None
        return "key", f"public key sha256:{hint}" if hint else "public key (no hint)", (), hint
    tlog = material.get("tlogEntries") or []
    if "certificate" in material:
        cert = _b64(
            path, _obj(path, material["certificate"], "rawBytes", "certificate."), "rawBytes"
        )
        certs: tuple[bytes, ...] = (cert,)
    elif "x509CertificateChain" in material:
        chain = _obj(
            path, material["x509CertificateChain"], "certificates", "x509CertificateChain."
        )
        if not isinstance(chain, list) or not chain:
            raise _fail(path, "is not a Sigstore bundle: the certificate chain is empty")
        certs = tuple(
            _b64(path, c.get("rawBytes") if isinstance(c, dict) else None, "rawBytes")
            for c in chain
        )
    else:
        raise _fail(path, "names no public key or certificate in verificationMaterial")
    method: Method = "sigstore" if tlog or "certificate" in material else "certificate"
    return method, describe_certificate(certs[0], path), certs, None


def describe_certificate(der: bytes, path: Path) -> str:
    """``identity (issuer)`` of a Sigstore certificate, or the subject of any other one."""
    identity, issuer, subject = certificate_identity(der, path)
    if identity and issuer:
        return f"{identity} (issuer {issuer})"
    return identity or subject


def certificate_identity(der: bytes, path: Path) -> tuple[str | None, str | None, str]:
    """(SAN identity, OIDC issuer, subject) of a DER certificate."""
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise _fail(path, f"holds a certificate that cannot be parsed ({exc})") from None
    identity: str | None = None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [
            *san.get_values_for_type(x509.RFC822Name),
            *san.get_values_for_type(x509.UniformResourceIdentifier),
        ]
        identity = names[0] if names else None
    except x509.ExtensionNotFound:
        pass
    issuer: str | None = None
    for ext in cert.extensions:
        oid = ext.oid.dotted_string
        if oid in (_OID_ISSUER_V1, _OID_ISSUER_V2) and isinstance(
            ext.value, x509.UnrecognizedExtension
        ):
            value = ext.value.value
            if oid == _OID_ISSUER_V2 and len(value) > 2 and value[0] == 0x0C:
                value = value[2:] if value[1] < 0x80 else value[2 + (value[1] & 0x7F) :]
            issuer = value.decode("utf-8", "replace")
            if oid == _OID_ISSUER_V2:
                break
    return identity, issuer, cert.subject.rfc4514_string()


def _manifest_of(
    path: Path, statement: Any
) -> tuple[str, dict[str, Any], tuple[ManifestEntry, ...]]:
    if not isinstance(statement, dict) or statement.get("_type") != _STATEMENT_TYPE:
        raise _fail(path, "does not hold an in-toto Statement v1")
    predicate_type = statement.get("predicateType")
    if predicate_type not in _PREDICATE_TYPES:
        raise _fail(path, f"is not a model signature: predicateType is {predicate_type!r}")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects or not isinstance(subjects[0], dict):
        raise _fail(path, "is damaged: the statement has no subject")
    if predicate_type == _PREDICATE_TYPES[1]:  # v0.2 format: one subject per file, sha256
        entries = tuple(
            ManifestEntry(str(s.get("name")), "sha256", str((s.get("digest") or {}).get("sha256")))
            for s in subjects
        )
        return "", {"method": "files", "hash_type": "sha256", "allow_symlinks": False}, entries
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        raise _fail(path, "is damaged: the statement has no predicate")
    serialization = predicate.get("serialization")
    resources = predicate.get("resources")
    if not isinstance(serialization, dict) or not isinstance(resources, list):
        raise _fail(path, "is damaged: the predicate lacks serialization or resources")
    items: list[ManifestEntry] = []
    for item in resources:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("name", "algorithm", "digest")
        ):
            raise _fail(path, "is damaged: a resource lacks its name, algorithm or digest")
        items.append(ManifestEntry(item["name"], item["algorithm"], item["digest"]))
    return str(subjects[0].get("name", "")), serialization, tuple(items)
