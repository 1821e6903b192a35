"""Integrity checks of model folders: OpenSSF model-signing signatures and provenance.

A *model unit* is a folder holding recognized model files. It is signed when an OpenSSF
model-signing signature covers it: ``model.sig`` in the folder or in a parent folder up to the
scan root, ``<folder>.sig`` beside it (the places :mod:`mlstix.integrity.verify` looks), or a
``<file>.sig`` beside every model file. With a key or identity, each signature is verified
through :func:`mlstix.integrity.verify.check_signature` (the ``model-signing`` library).
Provenance is present when an ML-BOM (CycloneDX ``*.cdx.json``, ``bom.json``) or an in-toto /
SLSA attestation (``*.intoto.jsonl``, ``*.intoto.json``) lies in the folder or a parent up to
the root.
"""

# Paths stay strings here: os.walk/os.path on large trees, no Path object per file.
# ruff: noqa: PTH113, PTH118, PTH119, PTH120, PTH208

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlstix.scan.models._context import Hit

__all__ = ["Trust", "check_units"]

_PROVENANCE = ("*.cdx.json", "bom.json", "*.intoto.jsonl", "*.intoto.json")


@dataclass(frozen=True)
class Trust:
    public_key: Path | None = None
    identity: str | None = None
    identity_provider: str | None = None

    @property
    def given(self) -> bool:
        return self.public_key is not None or self.identity is not None


@dataclass(frozen=True)
class ModelFile:
    real: str
    display: str
    root: str


def _ancestors(folder: str, root: str) -> Iterator[str]:
    here = folder
    while True:
        yield here
        if here == root or len(here) <= len(root):
            return
        parent = os.path.dirname(here)
        if parent == here:
            return
        here = parent


def _folder_signature(folder: str, root: str) -> str | None:
    sibling = os.path.join(os.path.dirname(folder), os.path.basename(folder) + ".sig")
    if os.path.isfile(sibling):
        return sibling
    for d in _ancestors(folder, root):
        candidate = os.path.join(d, "model.sig")
        if os.path.isfile(candidate):
            return candidate
    return None


def _has_provenance(folder: str, root: str) -> bool:
    for d in _ancestors(folder, root):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        if any(fnmatch.fnmatchcase(n, p) for n in names for p in _PROVENANCE):
            return True
    return False


def check_units(files: list[ModelFile], trust: Trust) -> list[tuple[str, Hit]]:
    """Hits (with the display path they belong to) for every model unit."""
    units: dict[str, list[ModelFile]] = {}
    for f in files:
        units.setdefault(os.path.dirname(f.real), []).append(f)
    out: list[tuple[str, Hit]] = []
    for folder, members in sorted(units.items()):
        members.sort(key=lambda m: m.display)
        root = members[0].root
        first = members[0].display
        display_folder = os.path.dirname(first) or "."
        signature = _folder_signature(folder, root)
        if signature:
            model_path = os.path.dirname(signature) if signature.endswith("model.sig") else folder
            if trust.given:
                out.extend((first, h) for h in _verify(model_path, signature, trust))
        else:
            unsigned = [m for m in members if not os.path.isfile(m.real + ".sig")]
            if unsigned:
                names = ", ".join(os.path.basename(m.display) for m in unsigned[:5])
                more = f" and {len(unsigned) - 5} more" if len(unsigned) > 5 else ""
                out.append((unsigned[0].display, Hit(
                    "models/unsigned-model",
                    f"no model.sig signature for the model in {display_folder} "
                    f"({names}{more})",
                    evidence={"folder": display_folder, "files": len(unsigned)},
                )))  # fmt: skip
            elif trust.given:
                for m in members:
                    out.extend((m.display, h) for h in _verify(m.real, m.real + ".sig", trust))
        if not _has_provenance(folder, root):
            out.append((first, Hit(
                "models/no-provenance",
                f"no ML-BOM (*.cdx.json, bom.json) or provenance attestation (*.intoto.jsonl) "
                f"for the model in {display_folder}",
                evidence={"folder": display_folder},
            )))  # fmt: skip
    return out


def _verify(model_path: str, signature: str, trust: Trust) -> list[Hit]:
    from mlstix.integrity.verify import check_signature

    result = check_signature(
        Path(model_path),
        Path(signature),
        public_key=trust.public_key,
        identity=trust.identity,
        identity_provider=trust.identity_provider,
    )
    if result.verified:
        return []
    return [
        Hit(
            "models/signature-invalid",
            f"signature {os.path.basename(signature)} does not verify: {result.message}",
            evidence={"signature": os.path.basename(signature), "signer": result.signer},
        )
    ]
