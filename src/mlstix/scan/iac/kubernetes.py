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
    problem = _typed_fields(obj, obj["kind"], 0)
    if problem:
        raise ValueError(f"{_where(obj)}{problem}")


# fields whose type the API server enforces on every kind, and the rules rely on
_STRING_MAPS = frozenset({"labels", "annotations", "matchLabels", "nodeSelector"})
_SCALARS_IN = {  # a list or a mapping under this key -> the fields its items hold as scalars
    "metadata": ("name", "namespace"),
    "containers": ("name", "image"),
    "initContainers": ("name", "image"),
    "env": ("name",),
    "ports": ("name", "port", "targetPort", "containerPort"),
}


def _typed_fields(value: Any, path: str, depth: int, scalars: tuple[str, ...] = ()) -> str:
    """The first field, anywhere in the object, of a type Kubernetes refuses: labels and the
    like that are not string maps; names, images and ports that are lists or mappings."""
    if depth > 64:
        return ""
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _typed_fields(item, f"{path}[{index}]", depth + 1, scalars)
            if problem:
                return problem
        return ""
    if not isinstance(value, dict):
        return ""
    for key, item in value.items():
        where = f"{path}.{key}"
        if key in scalars and isinstance(item, dict | list):
            return f"{where} is not a string or number"
        if key in _STRING_MAPS and item is not None:
            if not isinstance(item, dict) or any(isinstance(v, dict | list) for v in item.values()):
                return f"{where} is not a map of strings"
            continue
        if isinstance(item, dict | list):
            inner = _SCALARS_IN.get(key, ()) if isinstance(key, str) else ()
            problem = _typed_fields(item, where, depth + 1, inner)
            if problem:
                return problem
    return ""


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
