"""Kubernetes objects that Terraform declares: ``kubectl_manifest.yaml_body`` (the kubectl
providers), ``kubernetes_manifest.manifest`` and the typed resources of the Kubernetes provider
(``kubernetes_deployment_v1``, ...: :mod:`._tfk8s_native`), read as the manifests they apply,
so the Kubernetes rules judge them (ML platforms on EKS/GKE commonly apply RayService,
InferenceService or vLLM Deployments this way).

The object gets the Terraform block's file and line. Parts of a ``yaml_body`` template that stay
unknown (``${var.x}``) stay unknown in the object; a body that is not YAML is not read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import yaml

from mlstix.scan.iac import _yaml
from mlstix.scan.iac._tfk8s_native import to_object
from mlstix.scan.iac._values import BudgetExceeded, Expr, walk_limited
from mlstix.scan.iac.kubernetes import KubernetesParser, is_kubernetes
from mlstix.scan.iac.resource import Resource

__all__ = ["manifests"]

_NODE_BUDGET = 200_000
_MAX_DEPTH = 128


def _unknown_strings(value: Any, depth: int = 0) -> Any:
    """Strings still holding ``${...}`` after evaluation are unknown values."""
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, str) and "${" in value:
        return Expr(value)
    if isinstance(value, dict):
        out = type(value)() if isinstance(value, _yaml.LineDict) else {}
        if isinstance(value, _yaml.LineDict) and isinstance(out, _yaml.LineDict):
            out.line, out.key_lines = value.line, value.key_lines
        for k, v in value.items():
            out[k] = _unknown_strings(v, depth + 1)
        return out
    if isinstance(value, list):
        return [_unknown_strings(v, depth + 1) for v in value]
    return value


def _documents(r: Resource) -> list[Any]:
    if r.type == "kubernetes_manifest":
        manifest = r.attributes.get("manifest")
        return [manifest] if isinstance(manifest, dict) else []
    body = r.attributes.get("yaml_body")
    if not isinstance(body, str):
        return []
    try:
        docs = [d for d in _yaml.load_all(str(body)) if d is not None]
        walk_limited(docs, [_NODE_BUDGET], _MAX_DEPTH)
    except (yaml.YAMLError, BudgetExceeded, RecursionError):
        return []
    return [_unknown_strings(d) for d in docs] if isinstance(body, Expr) else docs


def manifests(resources: list[Resource]) -> Iterator[Resource]:
    """The Kubernetes objects of ``kubectl_manifest``/``kubernetes_manifest`` resources and of
    the Kubernetes provider's typed resources (:mod:`._tfk8s_native`). A data source
    (``data "kubernetes_service_v1"``, ``data "kubernetes_resource"``) reads an object applied
    elsewhere: it is not an object this configuration applies, so it is not read as one."""
    parser = KubernetesParser()
    for r in resources:
        if r.dialect != "terraform" or r.data:
            continue
        if r.type in ("kubectl_manifest", "kubernetes_manifest"):
            docs = [d for d in _documents(r) if is_kubernetes(d)]
        else:
            native = to_object(r.type, r.attributes) if r.type.startswith("kubernetes_") else None
            docs = [native] if native is not None else []
        if not docs:
            continue
        try:
            objects = parser.parse(docs, "", r.file).resources
        except ValueError:
            continue  # a shape the API server refuses: not an object it would create
        for obj in objects:
            yield dataclasses.replace(obj, line=r.line, scope=r.scope)
