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
    _check_shape(doc)
    if doc["kind"] == "List" or str(doc["kind"]).endswith("List"):
        items = doc.get("items") or []
        if not isinstance(items, list):
            raise ValueError(f"{_where(doc)}{doc['kind']}: items is not a list")
        for item in items:
            yield from _objects(item)
    else:
        yield doc


def _where(obj: Any) -> str:
    return f"line {obj.line}: " if isinstance(obj, LineDict) and obj.line else ""


def _check_shape(obj: dict[str, Any]) -> None:
    """Refuse what the API server refuses before any rule reads it: ``kind`` and ``apiVersion``
    are strings, ``metadata`` and ``spec`` objects (`spec: x` crashed a rule: a traceback)."""
    for field in ("apiVersion", "kind"):
        if not isinstance(obj[field], str):
            raise ValueError(f"{_where(obj)}{field} is not a string")
    for field in ("metadata", "spec"):
        if field in obj and obj[field] is not None and not isinstance(obj[field], dict):
            raise ValueError(f"{_where(obj)}{obj['kind']}: {field} is not a mapping")


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
