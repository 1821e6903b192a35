"""The Cloud KMS keys that the collected Vertex AI, Workbench and bucket resources name
(``encryptionSpec.kmsKeyName``, ``bootDisk.kmsKey``, ``encryption.defaultKmsKeyName``), read
with ``cloudkms.googleapis.com/v1`` ``projects.locations.keyRings.cryptoKeys.get`` (permission
``cloudkms.cryptoKeys.get``, in ``roles/cloudkms.viewer``), so MLSTIX-GCP-KMS-001 judges their
``rotationPeriod`` (REST reference: CryptoKey, a Duration such as ``"7776000s"``; absent when the
key does not rotate automatically). A key version named (``.../cryptoKeyVersions/1``) counts as
its key. Stored as ``cloudkms.googleapis.com/CryptoKey``; Terraform's view is
``google_kms_crypto_key``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["KEY_ASSET", "key_names", "read_keys"]

KEY_ASSET = ("cloudkms.googleapis.com/CryptoKey", "google_kms_crypto_key")
_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+")


def key_names(strings: Iterable[tuple[str, str]]) -> set[str]:
    """Key resource names among (field, text) pairs of the collected resources."""
    return {m.group(0) for key, text in strings if "kms" in key.lower() and (m := _KEY.match(text))}


def read_keys(
    names: Iterable[str],
    get: Callable[[str], Mapping[str, Any]],
    add: Callable[[Mapping[str, Any], str], None],
    guarded: Callable[[str, Callable[[], None]], None],
) -> None:
    """Each key by name (``get``), stored with its location (``add``); failures as ``guarded``
    records them (a key that no longer exists is a note)."""
    for name in sorted(names):

        def read(name: str = name) -> None:
            add(get(name), name.split("/locations/", 1)[1].split("/", 1)[0])

        guarded(name, read)
