"""What a verifier trusts, and checking a signature against it through `model-signing`.

Three kinds of trust match the three signing methods of the OpenSSF model-signing format:
a public key (:class:`KeyTrust`), a certificate chain ending at a trusted root
(:class:`ChainTrust`), and a Sigstore keyless identity with its OIDC issuer
(:class:`IdentityTrust`). :func:`authenticate` checks the signature's DSSE envelope with the
library's verifier for that method and returns the signed manifest; a signature that does not
verify raises :class:`Untrusted` with the reason in words.

Sigstore verification without ``trust_config`` fetches the public-good trust root over the
network (TUF); with a trust config file (``ClientTrustConfig`` JSON) it runs offline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstix.errors import UsageError
from mlstix.integrity import _library
from mlstix.integrity.bundle import SignatureFile, certificate_identity

__all__ = ["ChainTrust", "IdentityTrust", "KeyTrust", "Trust", "Untrusted", "authenticate"]


@dataclass(frozen=True)
class KeyTrust:
    """Signatures made with the private key paired with this PEM public key."""

    public_key: Path
    method = "key"

    def describe(self) -> str:
        return f"public key {self.public_key} (sha256:{key_fingerprint(self.public_key)})"


@dataclass(frozen=True)
class ChainTrust:
    """Signatures made with a certificate that chains to one of these PEM certificates."""

    certificate_chain: tuple[Path, ...]
    method = "certificate"

    def describe(self) -> str:
        return "certificate chain " + ", ".join(str(p) for p in self.certificate_chain)


@dataclass(frozen=True)
class IdentityTrust:
    """Sigstore keyless signatures of ``identity`` as vouched for by OIDC ``issuer``."""

    identity: str
    issuer: str
    trust_config: Path | None = None
    method = "sigstore"

    def describe(self) -> str:
        return f"identity {self.identity} (issuer {self.issuer})"


Trust = KeyTrust | ChainTrust | IdentityTrust


class Untrusted(Exception):
    """The signature does not verify against this trust; ``str()`` says why."""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None


def key_fingerprint(public_key: Path) -> str:
    """The key hint model-signing records: SHA-256 of the SubjectPublicKeyInfo PEM."""
    from cryptography.hazmat.primitives import serialization

    key = _load_public_key(public_key)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(pem).hexdigest()


def _load_public_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise UsageError(
            f"public key {path} is not a PEM public key",
            hint="pass the public half (BEGIN PUBLIC KEY), e.g. from "
            "`openssl ec -in key.pem -pubout`",
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in (
        "secp256r1",
        "secp384r1",
        "secp521r1",
    ):
        raise UsageError(
            f"public key {path} is not an elliptic-curve P-256, P-384 or P-521 key, "
            "the only kinds model-signing supports"
        )
    return key


def _load_chain(paths: tuple[Path, ...]) -> None:
    from cryptography import x509

    for path in paths:
        try:
            x509.load_pem_x509_certificates(_read(path, "certificate chain file"))
        except ValueError:
            raise UsageError(f"certificate chain file {path} holds no PEM certificate") from None


def authenticate(trust: Trust, signature: SignatureFile) -> Any:
    """Verify ``signature`` against ``trust``; return the signed ``model_signing`` manifest."""
    if trust.method != signature.method:
        raise Untrusted(
            f"the signature was made with {_METHOD_WORDS[signature.method]} but "
            f"{trust.describe()} verifies {_METHOD_WORDS[trust.method]}"
        )
    if isinstance(trust, KeyTrust):
        return _with_key(trust, signature)
    if isinstance(trust, ChainTrust):
        return _with_chain(trust, signature)
    return _with_identity(trust, signature)


_METHOD_WORDS = {
    "key": "a private key",
    "certificate": "a certificate chain",
    "sigstore": "Sigstore keyless signing",
}


def _with_key(trust: KeyTrust, signature: SignatureFile) -> Any:
    from cryptography.exceptions import InvalidSignature

    _library.prepare()
    from model_signing._signing import sign_ec_key, sign_sigstore_pb

    fingerprint = key_fingerprint(trust.public_key)
    if signature.key_hint and signature.key_hint != fingerprint:
        raise Untrusted(
            f"the signature was made by a different key (sha256:{signature.key_hint}) than "
            f"the trusted {trust.describe()}"
        )
    verifier = sign_ec_key.Verifier(trust.public_key)
    try:
        return verifier.verify(sign_sigstore_pb.Signature.read(signature.path))
    except InvalidSignature:
        raise Untrusted(
            f"the signature does not verify with {trust.describe()}: it was made by another "
            "key, or its signed statement was altered"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise Untrusted(f"the signature is damaged: {exc}") from None


def _with_chain(trust: ChainTrust, signature: SignatureFile) -> Any:
    from cryptography.exceptions import InvalidSignature

    _library.prepare()
    from model_signing._signing import sign_certificate, sign_sigstore_pb
    from OpenSSL import crypto

    _load_chain(trust.certificate_chain)
    verifier = sign_certificate.Verifier(list(trust.certificate_chain))
    try:
        return verifier.verify(sign_sigstore_pb.Signature.read(signature.path))
    except crypto.X509StoreContextError as exc:
        raise Untrusted(
            f"the signing certificate ({signature.signer}) does not chain to the trusted "
            f"{trust.describe()}: {exc}"
        ) from None
    except InvalidSignature:
        raise Untrusted(
            f"the signature does not verify with the key of its certificate ({signature.signer}):"
            " its signed statement was altered"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise Untrusted(f"the signature does not verify: {exc}") from None


def _with_identity(trust: IdentityTrust, signature: SignatureFile) -> Any:
    # Offline check first, so a wrong identity is named precisely and without network.
    identity, issuer, _ = certificate_identity(signature.certificates[0], signature.path)
    if identity != trust.identity:
        raise Untrusted(
            f"the signature was made by identity {identity or '(none)'}, not the trusted "
            f"{trust.identity}"
        )
    if issuer != trust.issuer:
        raise Untrusted(
            f"the signer's identity was issued by {issuer or '(unknown issuer)'}, not the "
            f"trusted {trust.issuer}"
        )
    _library.prepare()
    from model_signing._signing import sign_sigstore
    from sigstore.errors import Error as SigstoreError

    verifier = _sigstore_verifier(trust)
    try:
        bundle = sign_sigstore.Signature.read(signature.path)
    except (ValueError, SigstoreError) as exc:
        raise Untrusted(f"the signature is not a valid Sigstore bundle: {exc}") from None
    try:
        return verifier.verify(bundle)
    except (ValueError, SigstoreError) as exc:
        raise Untrusted(f"Sigstore verification failed: {exc}") from None


def _sigstore_verifier(trust: IdentityTrust) -> Any:
    _library.prepare()
    from model_signing._signing import sign_sigstore
    from sigstore.errors import Error as SigstoreError

    if trust.trust_config is not None:
        load_trust_config(trust.trust_config)
    try:
        return sign_sigstore.Verifier(
            identity=trust.identity, oidc_issuer=trust.issuer, trust_config=trust.trust_config
        )
    except (SigstoreError, OSError) as exc:
        raise UsageError(
            f"cannot set up Sigstore verification: {exc}",
            hint="without --trust-config the public-good trust root is fetched over the "
            "network; pass --trust-config FILE to verify offline",
        ) from None


def load_trust_config(path: Path) -> Any:
    """Parse a Sigstore ``ClientTrustConfig`` JSON file, with an error that names it."""
    from sigstore.models import ClientTrustConfig

    text = _read(path, "trust config").decode("utf-8", "replace")
    try:
        return ClientTrustConfig.from_json(text)
    except Exception as exc:  # boundary: sigstore raises pydantic, JSON and its own errors
        raise UsageError(
            f"trust config {path} is not a Sigstore ClientTrustConfig: {str(exc).splitlines()[0]}",
            hint="use a trust config JSON from `sigstore trust-instance` or your Sigstore "
            "deployment (media type application/vnd.dev.sigstore.clienttrustconfig.v0.1+json)",
        ) from None
