"""Errors of signing, verification and ML-BOM generation.

:class:`SignatureError` is a verification that ran and failed (exit 1: tampered model, untrusted
signer, unreadable signature); every other problem is a :class:`~mlstix.errors.UsageError`
(exit 2: a missing key file, a malformed policy, bad options).
"""

from __future__ import annotations

from mlstix.errors import MlstixError

__all__ = ["SignatureError", "SigningError"]


class SignatureError(MlstixError):
    """A signature could not be read or did not verify."""

    exit_code = 1


class SigningError(MlstixError):
    """Signing could not complete; no signature file was written."""

    exit_code = 2
