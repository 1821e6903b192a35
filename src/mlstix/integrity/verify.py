"""Verifying a model against its OpenSSF model-signing signature, with a change report.

:func:`check_signature` is the one entry point, used by ``mlstix verify`` and by the model
scanner's "Unsigned ML Models" check. It reads the signature (a Sigstore bundle wrapping an
in-toto statement, see :mod:`mlstix.integrity.bundle`), authenticates it through `model-signing`
against the trusted key, certificate chain, Sigstore identity or policy, hashes the model again
with the serialization the statement records (:mod:`mlstix.integrity._fasthash`, on worker
threads while the signature is checked), and names every changed, added and missing file by
comparing the two manifests.
It never raises for what it finds (tampered, untrusted, unreadable signature): that is a
:class:`VerificationResult` with ``verified=False`` and a message. It raises
:class:`~mlstix.errors.UsageError` only for bad arguments (a missing key file, a bad policy).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstix.errors import UsageError
from mlstix.integrity._fasthash import start_hashing
from mlstix.integrity.bundle import read_signature
from mlstix.integrity.errors import SignatureError
from mlstix.integrity.hashing import options_from_serialization
from mlstix.integrity.trust import (
    ChainTrust,
    IdentityTrust,
    KeyTrust,
    Trust,
    Untrusted,
    authenticate,
)

if TYPE_CHECKING:
    from mlstix.integrity.policy import Policy

__all__ = [
    "DEFAULT_SIGNATURE_NAME",
    "VerificationResult",
    "check_signature",
    "find_signature",
    "signature_candidates",
]

DEFAULT_SIGNATURE_NAME = "model.sig"  # the upstream `model_signing` default


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of checking one model against its signature.

    ``verified`` is true only when the signature is authentic for a trusted signer *and* every
    file matches. ``authenticated`` says the first half; ``intact`` the second (``None`` when
    the files could not be compared, e.g. no signature or an unreadable one). ``method`` is
    ``key``, ``certificate`` or ``sigstore`` (``None`` without a readable signature);
    ``signer`` is who the signature names (key fingerprint, certificate subject or identity).
    """

    verified: bool
    method: str | None
    signer: str | None
    message: str
    signature_path: Path | None = None
    authenticated: bool = False
    intact: bool | None = None
    changed: tuple[str, ...] = field(default_factory=tuple)
    added: tuple[str, ...] = field(default_factory=tuple)
    missing: tuple[str, ...] = field(default_factory=tuple)
    trusted_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``mlstix verify --format json``)."""
        return {
            "verified": self.verified,
            "authenticated": self.authenticated,
            "intact": self.intact,
            "method": self.method,
            "signer": self.signer,
            "trusted_by": self.trusted_by,
            "signature": str(self.signature_path) if self.signature_path else None,
            "changed": list(self.changed),
            "added": list(self.added),
            "missing": list(self.missing),
            "message": self.message,
        }


def signature_candidates(model_path: Path) -> list[Path]:
    """Where a signature of ``model_path`` is looked for, in order: ``model.sig`` inside a
    model folder, beside it (``<folder>.sig``, ``model.sig``); ``<file>.sig`` beside a file."""
    if model_path.is_dir():
        return [
            model_path / DEFAULT_SIGNATURE_NAME,
            model_path.parent / f"{model_path.name}.sig",
        ]
    return [model_path.parent / f"{model_path.name}.sig"]


def find_signature(model_path: Path) -> Path | None:
    """The signature beside ``model_path`` (see :func:`signature_candidates`), if one exists."""
    for candidate in signature_candidates(Path(model_path)):
        if candidate.is_file():
            return candidate
    return None


def check_signature(
    model_path: Path | str,
    signature_path: Path | str | None = None,
    *,
    public_key: Path | str | None = None,
    certificate_chain: Sequence[Path | str] = (),
    identity: str | None = None,
    identity_provider: str | None = None,
    trust_config: Path | str | None = None,
    policy: Policy | None = None,
    ignore_paths: Iterable[str] = (),
    workers: int | None = None,
    chunk_size: int = 1 << 20,
) -> VerificationResult:
    """Check ``model_path`` against its signature (default: :func:`find_signature`).

    Trust comes from exactly one of: ``public_key``; ``certificate_chain``; ``identity`` with
    ``identity_provider`` (Sigstore, offline when ``trust_config`` is given); ``policy``. With
    none, the signature's manifest is still compared with the files (``intact``), but the
    result is not ``verified``: nobody vouched for the signer.
    """
    model = Path(model_path)
    if not model.exists():
        raise UsageError(f"model path {model} does not exist")
    trusts = _trusts(
        model, public_key, certificate_chain, identity, identity_provider, trust_config, policy
    )
    _check_trust_files(trusts)
    if policy is not None and not trusts:
        return VerificationResult(
            False, None, None, f"policy {policy.path} has no rule for {model}: no signer is trusted"
        )
    if signature_path is None:
        found = find_signature(model)
        if found is None:
            looked = ", ".join(str(p) for p in signature_candidates(model))
            return VerificationResult(
                False, None, None, f"{model} is not signed: no signature at {looked}"
            )
        signature_path = found
    sig_path = Path(signature_path)
    try:
        signature = read_signature(sig_path)
    except SignatureError as exc:
        return VerificationResult(False, None, None, str(exc), sig_path)

    try:
        options = options_from_serialization(
            signature.serialization, workers=workers, chunk_size=chunk_size
        )
    except (ValueError, KeyError, TypeError) as exc:
        message = f"signature {sig_path} describes a hashing mlstix cannot repeat: {exc}"
        return VerificationResult(False, signature.method, signature.signer, message, sig_path)
    # Hash the model on worker threads while this one authenticates the signature.
    bound = 2 * len(signature.entries) + 10_000
    job = start_hashing(model, options, _inside(model, sig_path, list(ignore_paths)), bound)
    manifest: Any = None
    trusted_by: str | None = None
    reasons: list[str] = []
    try:
        for trust in trusts:
            try:
                manifest = authenticate(trust, signature)
            except Untrusted as exc:
                reasons.append(str(exc))
                continue
            trusted_by = trust.describe()
            break
        hashed = job.result()
    except ValueError as exc:
        return VerificationResult(
            False,
            signature.method,
            signature.signer,
            f"cannot hash {model} as the signature describes: {exc}",
            sig_path,
            authenticated=manifest is not None,
            trusted_by=trusted_by,
        )
    finally:
        job.cancel()
    actual = hashed.hex()
    serialization = signature.serialization
    if manifest is not None:
        # the authenticated statement is the parsed one (same DSSE payload); use the library's
        # reading of it for the expected digests
        expected = {rd.identifier: rd.digest.digest_hex for rd in manifest.resource_descriptors()}
    else:
        expected = {e.name: e.digest for e in signature.entries}
    sharded = serialization.get("method") == "shards"
    changed, added, missing = diff_manifests(expected, actual, sharded=sharded)
    if not model.is_dir():  # a single-file model's one resource is named "."
        changed, added, missing = (
            tuple(model.name if n == "." else n for n in names)
            for names in (changed, added, missing)
        )
    intact = not (changed or added or missing)
    result = VerificationResult(
        verified=False,
        method=signature.method,
        signer=signature.signer,
        message="",
        signature_path=sig_path,
        authenticated=manifest is not None,
        intact=intact,
        changed=changed,
        added=added,
        missing=missing,
        trusted_by=trusted_by,
    )
    if manifest is None:
        if trusts:
            message = f"signature {sig_path} is not trusted: {'; '.join(reasons)}"
        else:
            message = (
                f"signature {sig_path} (signed by {signature.signer}) was not authenticated: "
                "no trusted key, certificate chain, identity or policy given"
            )
        if not intact:
            message += "; and the model changed: " + _change_summary(changed, added, missing)
        return replace(result, message=message)
    if not intact:
        summary = _change_summary(changed, added, missing)
        return replace(result, message=f"{model} does not match its signature: {summary}")
    count = len({_file_of(n, sharded) for n in expected})
    message = f"verified {count} file{'s' * (count != 1)} of {model}, signed by {signature.signer}"
    return replace(result, verified=True, message=message)


def _trusts(
    model: Path,
    public_key: Path | str | None,
    certificate_chain: Sequence[Path | str],
    identity: str | None,
    identity_provider: str | None,
    trust_config: Path | str | None,
    policy: Policy | None,
) -> list[Trust]:
    given = [
        name
        for name, value in (
            ("a public key", public_key),
            ("a certificate chain", certificate_chain),
            ("a Sigstore identity", identity or identity_provider),
            ("a policy", policy),
        )
        if value
    ]
    if len(given) > 1:
        raise UsageError(
            f"give one source of trust, not {' and '.join(given)}",
            hint="use --public-key, --certificate-chain, --identity with --identity-provider, "
            "or --policy",
        )
    if (identity is None) != (identity_provider is None):
        missing = "--identity-provider" if identity_provider is None else "--identity"
        raise UsageError(
            "Sigstore verification needs both --identity and --identity-provider; "
            f"{missing} is missing"
        )
    if trust_config is not None and identity is None and policy is None:
        raise UsageError(
            "--trust-config applies to Sigstore verification: "
            "add --identity and --identity-provider"
        )
    if public_key is not None:
        return [KeyTrust(Path(public_key))]
    if certificate_chain:
        return [ChainTrust(tuple(Path(p) for p in certificate_chain))]
    if identity is not None and identity_provider is not None:
        return [
            IdentityTrust(identity, identity_provider, Path(trust_config) if trust_config else None)
        ]
    if policy is not None:
        return policy.trusts_for(model)
    return []


def _check_trust_files(trusts: list[Trust]) -> None:
    """Fail early, as a usage error, on trust material that cannot be loaded."""
    from mlstix.integrity.trust import key_fingerprint, load_trust_config

    for trust in trusts:
        if isinstance(trust, KeyTrust):
            key_fingerprint(trust.public_key)
        elif isinstance(trust, IdentityTrust) and trust.trust_config is not None:
            load_trust_config(trust.trust_config)


def _inside(model: Path, signature_path: Path, user_ignores: list[str]) -> list[Path]:
    """Paths to ignore besides the recorded ones: the signature itself when it lies inside
    the model folder, and what the user asked to ignore."""
    from mlstix.integrity.hashing import relative_ignores

    out = relative_ignores(model, user_ignores) if user_ignores else []
    root = model.resolve()
    sig = signature_path.resolve()
    if model.is_dir() and sig.is_relative_to(root):
        out.append(sig.relative_to(root))
    return out


def _file_of(name: str, sharded: bool) -> str:
    return name.rsplit(":", 2)[0] if sharded else name


def diff_manifests(
    expected: Mapping[str, str], actual: Mapping[str, str], *, sharded: bool = False
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(changed, added, missing) file names between a signed and a fresh manifest.

    Manifest keys are file paths, or ``path:start:end`` shards when ``sharded``; a file counts
    as changed when any of its shards differs or its shards differ (it changed size).
    """

    def by_file(items: Mapping[str, str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for name, digest in items.items():
            out.setdefault(_file_of(name, sharded), {})[name] = digest
        return out

    want, have = by_file(expected), by_file(actual)
    changed = tuple(sorted(f for f in want.keys() & have.keys() if want[f] != have[f]))
    added = tuple(sorted(have.keys() - want.keys()))
    missing = tuple(sorted(want.keys() - have.keys()))
    return changed, added, missing


def _change_summary(changed: Sequence[str], added: Sequence[str], missing: Sequence[str]) -> str:
    parts = []
    for label, names in (("changed", changed), ("added", added), ("missing", missing)):
        if names:
            parts.append(f"{len(names)} {label} ({', '.join(names)})")
    return ", ".join(parts)
