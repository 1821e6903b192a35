"""The Terraform Kubernetes provider's typed resources (``kubernetes_deployment_v1``,
``kubernetes_service``, ``kubernetes_cluster_role_binding_v1``, ...) read as the Kubernetes
objects they create, so the Kubernetes rules judge them as they judge manifests and live objects.

The provider's schema mirrors the Kubernetes API with Terraform names (hashicorp/kubernetes,
``kubernetes/schema_*.go``): attributes are snake_case (``run_as_non_root`` is
``runAsNonRoot``), a repeated field is a repeated block named in the singular (``container``
blocks are ``containers``, ``volume_mount`` blocks ``volumeMounts``), a nested object is a block
of at most one item (``security_context``, ``resources``, ``metadata``), and string maps
(``labels``, ``annotations``, ``limits``, a Service's ``selector``) keep their keys. The
attribute tree has the shape of ``terraform show -json``: a block is a list of objects, a map
attribute an object, so the two are told apart without the provider's schema. Values unknown at
plan time stay unknown in the object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown

__all__ = ["KINDS", "kind_of", "to_object"]

# Terraform type (without its _v1/_v2 suffix) -> (apiVersion, kind)
KINDS = {
    "kubernetes_pod": ("v1", "Pod"),
    "kubernetes_deployment": ("apps/v1", "Deployment"),
    "kubernetes_stateful_set": ("apps/v1", "StatefulSet"),
    "kubernetes_daemonset": ("apps/v1", "DaemonSet"),
    "kubernetes_daemon_set": ("apps/v1", "DaemonSet"),
    "kubernetes_job": ("batch/v1", "Job"),
    "kubernetes_cron_job": ("batch/v1", "CronJob"),
    "kubernetes_service": ("v1", "Service"),
    "kubernetes_service_account": ("v1", "ServiceAccount"),
    "kubernetes_limit_range": ("v1", "LimitRange"),
    "kubernetes_network_policy": ("networking.k8s.io/v1", "NetworkPolicy"),
    "kubernetes_ingress": ("networking.k8s.io/v1", "Ingress"),
    "kubernetes_cluster_role_binding": ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    "kubernetes_role_binding": ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    "kubernetes_cluster_role": ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    "kubernetes_role": ("rbac.authorization.k8s.io/v1", "Role"),
}
_VERSION_SUFFIX = re.compile(r"_v\d+$")
# repeated blocks -> the Kubernetes list field
_REPEATED = {
    "container": "containers",
    "init_container": "initContainers",
    "ephemeral_container": "ephemeralContainers",
    "volume": "volumes",
    "volume_mount": "volumeMounts",
    "port": "ports",
    "ports": "ports",
    "env": "env",
    "env_from": "envFrom",
    "toleration": "tolerations",
    "image_pull_secrets": "imagePullSecrets",
    "host_aliases": "hostAliases",
    "subject": "subjects",
    "limit": "limits",
    "rule": "rules",
    "path": "paths",
    "tls": "tls",
    "ingress": "ingress",
    "egress": "egress",
    "from": "from",
    "to": "to",
    "match_expressions": "matchExpressions",
    "topology_spread_constraint": "topologySpreadConstraints",
    "readiness_gate": "readinessGates",
    "cluster_role_selectors": "clusterRoleSelectors",
}
# names whose Kubernetes spelling is not the plain camelCase of the Terraform one
_NAMES = {
    "host_pid": "hostPID",
    "host_ipc": "hostIPC",
    "external_ips": "externalIPs",
    "cluster_ip": "clusterIP",
    "cluster_ips": "clusterIPs",
    "load_balancer_ip": "loadBalancerIP",
    "non_resource_urls": "nonResourceURLs",
}
_MAX_DEPTH = 64


def kind_of(terraform_type: str) -> tuple[str, str] | None:
    """(apiVersion, kind) of a Kubernetes provider resource type, or None."""
    return KINDS.get(_VERSION_SUFFIX.sub("", terraform_type))


def _camel(name: str) -> str:
    if name in _NAMES:
        return _NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _blocks(value: Any, depth: int) -> Any:
    """A block's attribute tree in Kubernetes names (an object; a map attribute keeps its keys)."""
    if depth > _MAX_DEPTH or not isinstance(value, Mapping) or is_unknown(value):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        key = str(key)
        is_block = (
            isinstance(item, list) and bool(item) and all(isinstance(i, Mapping) for i in item)
        )
        if is_block and key in _REPEATED and not (key == "port" and "number" in item[0]):
            out[_REPEATED[key]] = [_blocks(i, depth + 1) for i in item]
        elif is_block:
            # a nested object (at most one block); an Ingress backend's port { number } too
            out[_camel(key)] = _blocks(item[0], depth + 1)
        else:
            out[_camel(key)] = item  # scalars, lists of scalars, maps, unknown values
    return out


def to_object(terraform_type: str, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Kubernetes object a Kubernetes provider resource creates, or None for another type."""
    kind = kind_of(terraform_type)
    if kind is None:
        return None
    obj = _blocks(attributes, 0)
    if not isinstance(obj, dict):
        return None
    obj = {k: v for k, v in obj.items() if k not in ("id", "timeouts", "waitForRollout")}
    obj["apiVersion"], obj["kind"] = kind
    meta = obj.get("metadata")
    obj["metadata"] = meta if isinstance(meta, dict) else {}
    return obj
