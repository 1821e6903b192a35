"""The ML bill of materials: a CycloneDX 1.6 JSON document describing a model.

Built with `cyclonedx-python-lib` (https://cyclonedx.org/docs/1.6/json/): the model is a
``machine-learning-model`` component whose nested ``file`` components carry the SHA-256 of every
file; the frameworks it declares (``requirements.txt``, ``config.json``'s
``transformers_version``, the model card's ``library_name``) are ``framework`` components it
depends on; its OpenSSF model-signing signature, when one exists, is a ``digital-signature``
external reference with the signature's own hash. The library has no model for ``modelCard``
(spec §components.modelCard), so it is added to the emitted JSON, and the whole document is
validated against the CycloneDX 1.6 JSON schema the library ships before it is returned.

The serial number is derived from the file hashes, and the timestamp honours
``SOURCE_DATE_EPOCH``, so the same model gives the same BOM.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlstix import __version__
from mlstix.errors import MlstixError, UsageError
from mlstix.integrity._fasthash import hash_model
from mlstix.integrity.hashing import HashOptions
from mlstix.integrity.modelcard import ModelInfo, read_model_info
from mlstix.integrity.verify import find_signature

__all__ = ["BomDocument", "build_bom", "find_bom", "model_card_json", "validate_bom"]

_MODEL_REF = "model"
_NAMESPACE = uuid.UUID("5b1f8a4e-3f7e-4b4e-9a55-6d2f0c1c9e10")  # mlstix BOM serial numbers
BOM_NAMES = ("bom.cdx.json", "bom.json", "model.cdx.json", "sbom.cdx.json")


@dataclass(frozen=True)
class BomDocument:
    """A validated BOM (``text``: JSON) and what could not be read while building it."""

    text: str
    files: int
    signature: Path | None
    warnings: tuple[str, ...]


def find_bom(model_path: Path) -> Path | None:
    """A CycloneDX BOM beside or inside ``model_path`` (``bom.cdx.json`` and the like, or
    ``<file>.cdx.json``) whose components include a ``machine-learning-model``, if any."""
    model_path = Path(model_path)
    folder = model_path if model_path.is_dir() else model_path.parent
    names = [folder / n for n in BOM_NAMES]
    if not model_path.is_dir():
        names.insert(0, folder / f"{model_path.name}.cdx.json")
    else:
        names.append(model_path.parent / f"{model_path.name}.cdx.json")
    for candidate in names:
        try:
            if not candidate.is_file() or candidate.stat().st_size > (64 << 20):
                continue
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and data.get("bomFormat") == "CycloneDX":
            components = data.get("components") or []
            if any(
                isinstance(c, dict) and c.get("type") == "machine-learning-model"
                for c in components
            ):
                return candidate
    return None


def _shown(name: str) -> str:
    """A name from the file system as UTF-8, bytes that are not shown as ``\\xff``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _uri_path(name: str) -> str:
    """A relative path as a URI reference: a byte of a name that is not UTF-8 (a lone
    surrogate here) and ``%`` itself are percent-encoded (``\\xff`` is no valid IRI)."""
    return "".join(
        f"%{ord(c) - 0xDC00:02X}" if 0xDC80 <= ord(c) <= 0xDCFF else "%25" if c == "%" else c
        for c in name
    )


def _timestamp() -> datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=UTC)
    return datetime.now(tz=UTC).replace(microsecond=0)


def _file_hashes(model: Path, exclude: list[Path]) -> dict[str, str]:
    try:
        return hash_model(model, HashOptions(), exclude).hex()
    except ValueError as exc:
        raise UsageError(f"cannot hash {model}: {exc}") from None


def model_card_json(info: ModelInfo) -> dict[str, Any]:
    """The CycloneDX 1.6 ``modelCard`` object for ``info`` (empty parts left out)."""
    params: dict[str, Any] = {}
    if info.task:
        params["task"] = info.task
    if info.architecture_family:
        params["architectureFamily"] = info.architecture_family
    if info.model_architecture:
        params["modelArchitecture"] = info.model_architecture
    if info.datasets:
        params["datasets"] = [{"type": "dataset", "name": name} for name in info.datasets]
    if info.inputs:
        params["inputs"] = [{"format": f} for f in info.inputs]
    if info.outputs:
        params["outputs"] = [{"format": f} for f in info.outputs]
    card: dict[str, Any] = {"bom-ref": "model-card"}
    if params:
        card["modelParameters"] = params
    properties = [{"name": "mlstix:model-card:source", "value": s} for s in info.sources]
    properties += [{"name": "mlstix:model-card:base-model", "value": b} for b in info.base_model]
    if info.model_type:
        properties.append({"name": "mlstix:model-card:model-type", "value": info.model_type})
    if properties:
        card["properties"] = properties
    return card


def build_bom(
    model_path: Path | str,
    *,
    signature_path: Path | str | None = None,
    exclude: tuple[Path | str, ...] = (),
) -> BomDocument:
    """The CycloneDX 1.6 ML-BOM of ``model_path`` (a folder or a file), validated.

    ``exclude`` leaves files out (e.g. the BOM file itself when written into the model).
    """
    from cyclonedx.model import (
        ExternalReference,
        ExternalReferenceType,
        HashAlgorithm,
        HashType,
        Property,
        XsUri,
    )
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    model = Path(model_path)
    if not model.exists():
        raise UsageError(f"model path {model} does not exist")
    folder = model if model.is_dir() else model.parent
    signature = Path(signature_path) if signature_path is not None else find_signature(model)
    skip = [Path(p) for p in exclude]
    if signature is not None:
        skip.append(signature)
    root = model.resolve()
    extra = [
        p.resolve().relative_to(root)
        for p in skip
        if model.is_dir() and p.resolve().is_relative_to(root)
    ]
    hashes = _file_hashes(model, extra)
    if not hashes:
        raise UsageError(f"{model} has no files to describe")
    info = read_model_info(model)

    def sha256(hex_digest: str) -> HashType:
        return HashType(alg=HashAlgorithm.SHA_256, content=hex_digest)

    references = []
    if signature is not None:
        from mlstix.integrity.bundle import read_signature
        from mlstix.integrity.errors import SignatureError

        try:
            comment = (
                f"OpenSSF model-signing signature, signed by {read_signature(signature).signer}"
            )
        except SignatureError as exc:
            comment = f"OpenSSF model-signing signature (unreadable: {_shown(str(exc))})"
        folder = folder.resolve()
        references.append(
            ExternalReference(
                type=ExternalReferenceType.DIGITAL_SIGNATURE,
                url=XsUri(_uri_path(Path(os.path.relpath(signature.resolve(), folder)).as_posix())),
                comment=comment,
                hashes=[sha256(hashlib.sha256(signature.read_bytes()).hexdigest())],
            )
        )
    if "README.md" in info.sources:
        references.append(
            ExternalReference(type=ExternalReferenceType.MODEL_CARD, url=XsUri("README.md"))
        )

    licenses = []
    if info.license:
        from cyclonedx.contrib.license.factories import LicenseFactory

        licenses.append(LicenseFactory().make_from_string(info.license))
    files = [
        Component(
            type=ComponentType.FILE,
            name=name,
            bom_ref=f"file:{name}",
            hashes=[sha256(digest)],
        )
        for name, digest in sorted(hashes.items())
    ]
    single = not model.is_dir()
    model_component = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=_shown(model.name or root.name),
        bom_ref=_MODEL_REF,
        hashes=[sha256(next(iter(hashes.values())))] if single else None,
        components=None if single else files,
        licenses=licenses or None,
        external_references=references or None,
        tags=list(info.tags) or None,
        properties=[Property(name="mlstix:file-count", value=str(len(hashes)))],
    )
    frameworks = [
        Component(
            type=ComponentType.FRAMEWORK,
            name=fw.name,
            version=fw.version,
            bom_ref=f"framework:{fw.name}",
            purl=PackageURL(type="pypi", name=fw.name, version=fw.version),
            properties=[Property(name="mlstix:declared-in", value=fw.source)],
        )
        for fw in info.frameworks
    ]
    tool = Component(type=ComponentType.APPLICATION, name="mlstix", version=__version__)
    serial = uuid.uuid5(_NAMESPACE, json.dumps(sorted(hashes.items())))
    bom = Bom(
        serial_number=serial,
        metadata=BomMetaData(tools=[], timestamp=_timestamp()),
        components=[model_component, *frameworks],
    )
    bom.metadata.tools.components.add(tool)
    bom.register_dependency(model_component, frameworks)
    for fw in frameworks:
        bom.register_dependency(fw)
    data = json.loads(JsonV1Dot6(bom).output_as_string())
    for component in data.get("components", []):
        if component.get("bom-ref") == _MODEL_REF:
            component["modelCard"] = model_card_json(info)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    problems = validate_bom(text)
    if problems:
        raise MlstixError(
            "the generated BOM does not validate against CycloneDX 1.6: " + "; ".join(problems[:5]),
            hint="this is a bug in mlstix; please report it with the model's README.md and "
            "config.json",
        )
    return BomDocument(text, len(hashes), signature, info.warnings)


def validate_bom(text: str) -> list[str]:
    """Problems of ``text`` against the CycloneDX 1.6 JSON schema (empty when valid)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    out = []
    for error in errors or ():
        detail = error.data
        where = "/".join(str(p) for p in getattr(detail, "absolute_path", ())) or "(document)"
        out.append(f"{where}: {getattr(detail, 'message', detail)}")
    return out
