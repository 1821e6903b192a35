"""Integrity checks of model folders: OpenSSF model-signing signatures and provenance.

A *model unit* is a folder holding recognized model files. It is signed when an OpenSSF
model-signing signature covers it: ``model.sig`` in the folder or in a parent folder up to the
scan root, ``<folder>.sig`` beside it (the places :mod:`mlstix.integrity.verify` looks), or a
``<file>.sig`` beside every model file. With a key or identity, each signature is verified
through :func:`mlstix.integrity.verify.check_signature` (the ``model-signing`` library).
Provenance is present when an ML-BOM (CycloneDX ``*.cdx.json``, ``bom.json``) or an in-toto /
SLSA attestation (``*.intoto.jsonl``, ``*.intoto.json``) lies in the folder or a parent up to
the root.

A signature file is not a signature: one that is not a well-formed Sigstore bundle (the
format ``model_signing`` writes: a ``mediaType``, verification material and a DSSE envelope
whose payload is an in-toto statement with subjects) is a finding; a well-formed one that
nobody verifies (no ``--public-key`` or ``--identity``) is reported as unverified, never
counted as signed.
"""

# Paths stay strings here: os.walk/os.path on large trees, no Path object per file.
# ruff: noqa: PTH113, PTH118, PTH119, PTH120, PTH208

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlstix.scan.models._context import Hit

__all__ = ["Trust", "check_units"]

_PROVENANCE = ("*.cdx.json", "bom.json", "*.intoto.jsonl", "*.intoto.json")
_MAX_BUNDLE = 16 << 20
_BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle"


def bundle_problem(path: str) -> str | None:
    """Why ``path`` is not a well-formed Sigstore bundle, or ``None`` when it is one. The
    structure only: the signature itself is checked by :func:`_verify` with a key or an
    identity."""
    try:
        with open(path, "rb") as fp:  # noqa: PTH123
            raw = fp.read(_MAX_BUNDLE + 1)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if len(raw) > _MAX_BUNDLE:
        return "is larger than any signature bundle"
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return "is not JSON"
    if not isinstance(doc, dict):
        return "is not a JSON object"
    media = doc.get("mediaType")
    if not isinstance(media, str) or not media.startswith(_BUNDLE_TYPE):
        return f"has no Sigstore bundle mediaType ({_BUNDLE_TYPE}...)"
    material = doc.get("verificationMaterial")
    if not isinstance(material, dict) or not material:
        return "has no verificationMaterial"
    envelope = doc.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        return "has no dsseEnvelope (model signatures are DSSE envelopes)"
    sigs = envelope.get("signatures")
    if (
        not isinstance(sigs, list)
        or not sigs
        or not all(isinstance(x, dict) and isinstance(x.get("sig"), str) and x["sig"] for x in sigs)
    ):
        return "has a DSSE envelope without signatures"
    try:
        statement = json.loads(base64.b64decode(str(envelope.get("payload", "")), validate=True))
    except (binascii.Error, ValueError, RecursionError):
        return "has a DSSE payload that is not base64-encoded JSON"
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(subjects, list) or not subjects:
        return "has a DSSE payload that is not an in-toto statement with subjects"
    return None


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
            out.extend((first, h) for h in _judge(model_path, signature, trust))
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
            else:
                for m in members:
                    out.extend((m.display, h) for h in _judge(m.real, m.real + ".sig", trust))
        if not _has_provenance(folder, root):
            out.append((first, Hit(
                "models/no-provenance",
                f"no ML-BOM (*.cdx.json, bom.json) or provenance attestation (*.intoto.jsonl) "
                f"for the model in {display_folder}",
                evidence={"folder": display_folder},
            )))  # fmt: skip
    return out


def _judge(model_path: str, signature: str, trust: Trust) -> list[Hit]:
    name = os.path.basename(signature)
    problem = bundle_problem(signature)
    if problem:
        return [Hit("models/signature-malformed",
                    f"signature file {name} is not a signature: it {problem}",
                    evidence={"signature": name, "problem": problem})]  # fmt: skip
    if trust.given:
        return _verify(model_path, signature, trust)
    return [Hit("models/signature-unverified",
                f"signature {name} was not verified: give --public-key or --identity to check "
                "who signed the model", evidence={"signature": name})]  # fmt: skip


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
