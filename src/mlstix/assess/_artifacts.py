"""``--scan-artifacts``: scan the model artifacts production serves, and report on who serves them.

A cloud collector names the artifacts behind deployed models (:class:`Artifact`: its URI, a
``fetch`` that copies it read-only into a file up to the size cap, and the resources that serve
it). Each is copied once into a private temporary folder and scanned with the model scanner's
library entry point (:func:`mlstix.scan.models.scan_models`, which parses bytes and never loads
them). Each finding is then reported on every resource serving the artifact, so an unsafe pickle
in production is a finding on the endpoint that serves it. The folder is removed afterwards.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlstix.findings.model import Finding, Location, ScanError, ScannedFile
from mlstix.kb.graph import KnowledgeBase

__all__ = ["Artifact", "ArtifactResult", "TooLarge", "scan_artifacts"]


class TooLarge(Exception):
    """The artifact is larger than the cap; it was not (fully) copied."""


@dataclass(frozen=True)
class Artifact:
    uri: str  # s3://bucket/key, azureml://..., gs://...
    fetch: Callable[[Path, int], None]  # write the artifact to the path, at most cap bytes
    served_by: tuple[tuple[str, str], ...]  # (resource id, display) of what serves it


@dataclass
class ArtifactResult:
    findings: list[Finding]
    scanned: list[ScannedFile]
    errors: list[ScanError]
    notes: list[str]


def _file_name(uri: str) -> str:
    name = uri.rstrip("/").rsplit("/", 1)[-1] or "artifact"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:120]


def _relative(target: Path, path: str) -> str:
    """``path`` below a fetched folder, or "" for the fetched file itself."""
    root = str(target)
    return path[len(root) + 1 :] if path.startswith(root + "/") else ""


def _shown(uri: str, target: Path, path: str) -> str:
    inner = _relative(target, path)
    return f"{uri.rstrip('/')}/{inner}" if inner else uri


def scan_artifacts(
    artifacts: Sequence[Artifact], kb: KnowledgeBase, *, max_size: int
) -> ArtifactResult:
    from mlstix.scan.models import ScanOptions, scan_models

    out = ArtifactResult([], [], [], [])
    with tempfile.TemporaryDirectory(prefix="mlstix-artifacts-") as tmp:
        for index, art in enumerate(artifacts):
            folder = Path(tmp) / str(index)
            folder.mkdir()
            target = folder / _file_name(art.uri)
            try:
                art.fetch(target, max_size)
            except TooLarge as exc:
                out.notes.append(f"{art.uri} not scanned: {exc}")
                continue
            except OSError as exc:
                out.errors.append(ScanError(art.uri, f"cannot copy the artifact: {exc}"))
                continue
            if not target.exists():
                continue  # the fetcher recorded why
            report = scan_models([str(target)], kb, ScanOptions(jobs=1))
            for s in report.scanned:
                out.scanned.append(
                    ScannedFile(path=_shown(art.uri, target, s.path), kind=s.kind, sha256=s.sha256)
                )
            for e in report.errors:
                out.errors.append(
                    ScanError(
                        _shown(art.uri, target, e.path), e.message.replace(str(target), art.uri)
                    )
                )
            for f in report.findings:
                inner = _relative(target, f.location.path)
                member = "!".join(p for p in (inner, f.location.member) if p) or None
                message = f.message.replace(str(target) + "/", "").replace(str(target), "")
                for ident, display in art.served_by:
                    out.findings.append(
                        dataclasses.replace(
                            f,
                            message=f"{display} serves {art.uri}: {message}",
                            location=Location(path=ident, member=member, resource=display),
                            evidence={
                                **dict(f.evidence),
                                "artifact": _shown(art.uri, target, f.location.path),
                            },
                        )
                    )
    return out
