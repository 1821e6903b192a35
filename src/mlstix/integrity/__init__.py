"""mlstix.integrity: model signing and verification, and the ML bill of materials.

Signatures follow the OpenSSF model-signing format (a Sigstore bundle whose DSSE envelope wraps
an in-toto statement listing every file's digest) and are made and checked through the
`model-signing` library, so they interoperate with its ``model_signing`` command. The ML-BOM is
CycloneDX 1.6 JSON built with `cyclonedx-python-lib`.

The entry points other parts of mlstix use:

- :func:`check_signature` → :class:`VerificationResult` (the scanner's "Unsigned ML Models"
  check and ``mlstix verify``), :func:`find_signature` (the signature beside a model);
- :func:`sign_model` (``mlstix sign``);
- :func:`mlstix.integrity.bom.build_bom` / :func:`mlstix.integrity.bom.find_bom`
  (``mlstix bom``; the scanner's provenance check).
"""

from __future__ import annotations

from mlstix.integrity.hashing import HashOptions
from mlstix.integrity.sign import (
    CertificateSigner,
    KeySigner,
    SignResult,
    SigstoreSigner,
    sign_model,
)
from mlstix.integrity.verify import (
    DEFAULT_SIGNATURE_NAME,
    VerificationResult,
    check_signature,
    find_signature,
)

__all__ = [
    "DEFAULT_SIGNATURE_NAME",
    "CertificateSigner",
    "HashOptions",
    "KeySigner",
    "SignResult",
    "SigstoreSigner",
    "VerificationResult",
    "check_signature",
    "find_signature",
    "sign_model",
]
