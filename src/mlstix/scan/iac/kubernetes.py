"""Kubernetes manifests (YAML, multi-document, or JSON) → :class:`Resource`.

Every object with ``apiVersion`` and ``kind`` becomes a resource whose type is its ``kind``
(``Deployment``, ``InferenceService``, ``NetworkPolicy``, ...) and whose attributes are the whole
object; ``List`` objects are expanded. Which objects serve models is decided by the rules
(:mod:`mlstix.scan.rules.iac.kubernetes`), not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlstix.scan.iac._yaml import LineDict
from mlstix.scan.iac.resource import ParsedFile, Resource

__all__ = ["KubernetesParser", "is_kubernetes"]


def is_kubernetes(doc: Any) -> bool:
    return isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc


def _objects(doc: Any) -> Iterator[dict[str, Any]]:
    if not is_kubernetes(doc):
        return
    if doc["kind"] == "List" or str(doc["kind"]).endswith("List"):
        for item in doc.get("items") or []:
            yield from _objects(item)
    else:
        yield doc


class KubernetesParser:
    kind = "kubernetes"

    def parse(self, document: Any, text: str, path: str) -> ParsedFile:
        docs = document if isinstance(document, list) else [document]
        out = []
        for doc in docs:
            for obj in _objects(doc):
                raw_meta = obj.get("metadata")
                meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
                out.append(
                    Resource(
                        provider="kubernetes",
                        type=str(obj["kind"]),
                        name=str(meta.get("name", "")),
                        attributes=obj,
                        file=path,
                        line=obj.line if isinstance(obj, LineDict) else 1,
                        language="kubernetes",
                        scope=path,
                        extra={"namespace": str(meta.get("namespace") or "default")},
                    )
                )
        return ParsedFile(tuple(out), self.kind)
