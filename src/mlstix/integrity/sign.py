"""Signing a model in the OpenSSF model-signing format through the `model-signing` library.

The model is hashed (:mod:`mlstix.integrity.hashing`), the manifest becomes an in-toto
statement (predicate ``https://model_signing/signature/v1.0``) in a DSSE envelope, signed by a
private key, a certificate's key, or Sigstore keyless signing, and stored as a Sigstore bundle
v0.3 JSON file: the format the upstream ``model_signing verify`` command reads. The signature is
written atomically (:func:`mlstix._io.write_atomic`): a failed run leaves no file behind.

Sigstore keyless signing needs the network (OIDC token, Fulcio certificate, Rekor entry).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstix._io import check_output_path, write_atomic
from mlstix.errors import OutputError, UsageError
from mlstix.integrity import _library
from mlstix.integrity._fasthash import start_hashing
from mlstix.integrity.errors import SigningError
from mlstix.integrity.hashing import HashOptions

__all__ = [
    "CertificateSigner",
    "KeySigner",
    "SignResult",
    "Signer",
    "SigstoreSigner",
    "default_signature_path",
    "sign_model",
]


@dataclass(frozen=True)
class KeySigner:
    """Sign with an elliptic-curve private key (PEM; P-256, P-384 or P-521)."""

    private_key: Path
    password: str | None = None


@dataclass(frozen=True)
class CertificateSigner:
    """Sign with a private key whose certificate chains to a CA the verifier trusts."""

    private_key: Path
    signing_certificate: Path
    certificate_chain: tuple[Path, ...] = ()


@dataclass(frozen=True)
class SigstoreSigner:
    """Sigstore keyless signing (network): an OIDC identity gets a short-lived certificate."""

    identity_token: str | None = None
    use_ambient_credentials: bool = True
    oidc_issuer: str | None = None
    trust_config: Path | None = None
    use_staging: bool = False


Signer = KeySigner | CertificateSigner | SigstoreSigner


@dataclass(frozen=True)
class SignResult:
    """What was signed and where the signature went."""

    signature_path: Path
    method: str
    files: int
    resources: int


def default_signature_path(model_path: Path) -> Path:
    """``model.sig`` inside a model folder, ``<file>.sig`` beside a single-file model."""
    if model_path.is_dir():
        return model_path / "model.sig"
    return model_path.parent / f"{model_path.name}.sig"


def _need(path: Path, what: str) -> None:
    if not path.is_file():
        raise UsageError(f"{what} {path} does not exist or is not a file")


_CURVES = ("secp256r1", "secp384r1", "secp521r1")


def _check_private_key(path: Path, password: str | None) -> None:
    """Load the key as the library will, so a bad one is a clear usage error, not a crash."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    _need(path, "private key")
    secret = password.encode("utf-8") if password is not None else None
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), secret)
    except TypeError as exc:  # encrypted without password, or a password for a plain key
        raise UsageError(
            f"cannot use private key {path}: {exc}",
            hint="pass --password when the key is encrypted, and only then",
        ) from None
    except ValueError as exc:
        raise UsageError(
            f"cannot use private key {path}: {str(exc).splitlines()[0]}",
            hint="a PEM elliptic-curve private key; pass --password when it is encrypted",
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVES:
        kind = type(key).__name__.lstrip("_")
        raise UsageError(
            f"cannot use private key {path}: model-signing signs with elliptic-curve keys on "
            f"P-256, P-384 or P-521, and this is a {kind}"
            + (f" on {key.curve.name}" if isinstance(key, ec.EllipticCurvePrivateKey) else ""),
        )


def _check_certificates(path: Path, what: str) -> None:
    from cryptography import x509

    _need(path, what)
    try:
        x509.load_pem_x509_certificates(path.read_bytes())
    except ValueError:
        raise UsageError(f"{what} {path} holds no PEM certificate") from None


def _check_signer(signer: Signer) -> None:
    """Cheap checks of the key material, before any hashing starts."""
    if isinstance(signer, KeySigner):
        _check_private_key(signer.private_key, signer.password)
    elif isinstance(signer, CertificateSigner):
        _check_private_key(signer.private_key, None)
        if not signer.certificate_chain:
            raise UsageError(
                "the certificate method needs --certificate-chain",
                hint="pass the intermediate certificates (or the root, when it issued the signing"
                " certificate directly); model-signing 1.1.1 cannot sign without a chain",
            )
        for cert_file, what in (
            (signer.signing_certificate, "signing certificate"),
            *((chain, "certificate chain file") for chain in signer.certificate_chain),
        ):
            _check_certificates(cert_file, what)
    elif signer.trust_config is not None:
        from mlstix.integrity.trust import load_trust_config

        load_trust_config(signer.trust_config)


def _library_signer(signer: Signer) -> tuple[str, Any]:
    """The `model-signing` signer for ``signer`` (imports the library)."""
    _library.prepare()
    from model_signing._signing import sign_certificate, sign_ec_key

    if isinstance(signer, KeySigner):
        # The library hands the password to `cryptography`, which wants bytes (its type hint
        # says str, and upstream's `--password` fails for that reason).
        password: Any = signer.password.encode("utf-8") if signer.password else None
        return "key", sign_ec_key.Signer(signer.private_key, password)
    if isinstance(signer, CertificateSigner):
        try:
            return "certificate", sign_certificate.Signer(
                signer.private_key, signer.signing_certificate, list(signer.certificate_chain)
            )
        except (ValueError, TypeError) as exc:
            raise UsageError(
                f"cannot sign with certificate {signer.signing_certificate}: {exc}"
            ) from None
    _library.prepare()
    from model_signing._signing import sign_sigstore

    try:
        return "sigstore", sign_sigstore.Signer(
            oidc_issuer=signer.oidc_issuer,
            use_ambient_credentials=signer.use_ambient_credentials,
            use_staging=signer.use_staging,
            identity_token=signer.identity_token,
            trust_config=signer.trust_config,
        )
    except Exception as exc:  # boundary: sigstore/TUF raise network, TUF and pydantic errors
        raise SigningError(
            f"cannot set up Sigstore signing: {exc}",
            hint="Sigstore keyless signing needs network access to the Sigstore instance",
        ) from None


def sign_model(
    model_path: Path | str,
    signer: Signer,
    *,
    signature_path: Path | str | None = None,
    options: HashOptions | None = None,
) -> SignResult:
    """Hash and sign ``model_path``; write the signature atomically and return what was done.

    The signature file itself is ignored when it lies inside the model folder, as upstream does.
    """
    model = Path(model_path)
    if not model.exists():
        raise UsageError(f"model path {model} does not exist")
    options = options or HashOptions()
    target = Path(signature_path) if signature_path is not None else default_signature_path(model)
    check_output_path(target)  # a folder, or a missing parent folder: refused before hashing
    _check_signer(signer)
    extra: list[Path] = []
    root, sig = model.resolve(), target.resolve()
    if sig == root or (model.is_dir() and sig.is_relative_to(root)):
        _not_a_model_file(target, model)
    if model.is_dir() and sig.is_relative_to(root):
        extra.append(sig.relative_to(root))
    # Hash on worker threads while this one imports model-signing and loads the key.
    job = start_hashing(model, options, extra)
    try:
        method, library_signer = _library_signer(signer)
        _library.prepare()
        from model_signing._signing import signing

        hashed = job.result()
    except ValueError as exc:
        raise UsageError(f"cannot hash {model}: {exc}") from None
    finally:
        job.cancel()
    if not hashed.digests:
        raise UsageError(f"{model} has no files to sign (all ignored, or an empty folder)")
    manifest = hashed.library_manifest()
    payload = signing.Payload(manifest)
    try:
        signature = library_signer.sign(payload)
    except Exception as exc:  # boundary: a signer (Sigstore: network, OIDC) failing in any way
        raise SigningError(f"signing {model} failed: {exc}") from None
    write_atomic(target, signature.bundle.to_json())
    files = len({_file(name, options.method == "shards") for name in hashed.digests})
    return SignResult(target, method, files, len(hashed.digests))


def _not_a_model_file(target: Path, model: Path) -> None:
    """``--signature`` inside the model may replace an earlier signature (a ``*.sig`` file, an
    empty file, or anything that reads as a bundle), never a file of the model itself
    (``sign m --signature m/config.json`` overwrote the config, and signed the model without it)."""
    try:
        if not target.is_file() or target.suffix == ".sig" or target.stat().st_size == 0:
            return
    except OSError:
        return  # writing it will say what is wrong
    from mlstix.integrity.bundle import read_signature
    from mlstix.integrity.errors import SignatureError

    try:
        read_signature(target)
    except SignatureError:
        raise OutputError(
            target,
            f"it is a file of the model {model}, not a signature; signing would replace it",
            hint="choose another --signature path (default: MODEL/model.sig, or FILE.sig)",
        ) from None


def _file(identifier: str, sharded: bool) -> str:
    return identifier.rsplit(":", 2)[0] if sharded else identifier
