"""MLSTIX-K8S-KF-005's reading of RBAC beyond the fixtures: nested and cyclic aggregation, deep
chains, the service account's user name as subject, roles that grant nothing, unknown and
malformed objects."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import default_registry, evaluate

RULE = "MLSTIX-K8S-KF-005"
RBAC = "rbac.authorization.k8s.io/v1"


def _notebook(ns: str, name: str, account: str = "default-editor") -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "Notebook",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "template": {
                "spec": {
                    "serviceAccountName": account,
                    "containers": [{"name": name, "image": "jupyter-scipy:v1.10.0"}],
                }
            }
        },
    }


def _cluster_role(name: str, labels: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": meta, **body}


def _cluster_binding(name: str, role: str, subject: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }


def _sa(ns: str, name: str = "default-editor") -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def _findings(tmp_path: Path, objects: list[Any]) -> dict[str, Any]:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    found = collect([path])
    assert not found.errors, found.errors
    registry = default_registry()
    findings = evaluate(registry, [registry.get(RULE)], found.resources, None)
    return {str(f.location.resource): f for f in findings}


def _aggregates(label: str) -> dict[str, Any]:
    return {"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]}}


def test_nested_aggregation_is_followed(tmp_path: Path) -> None:
    secrets = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
    objects = [
        _cluster_role("top", rules=[], **_aggregates("to-top")),
        _cluster_role("mid", {"to-top": "true"}, rules=[], **_aggregates("to-mid")),
        _cluster_role("leaf", {"to-mid": "true"}, rules=[secrets]),
        _cluster_binding("nb-top", "top", _sa("team-a")),
        _notebook("team-a", "nb"),
    ]
    found = _findings(tmp_path, objects)
    assert list(found) == ["Notebook/team-a/nb"]
    assert found["Notebook/team-a/nb"].evidence["cluster_roles"] == [
        "top (ClusterRoleBinding nb-top, subject ServiceAccount team-a/default-editor, "
        "aggregating mid): read secrets"
    ]


def test_an_aggregation_cycle_ends_and_keeps_the_rules_it_reaches(tmp_path: Path) -> None:
    pods = {"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}
    objects = [
        _cluster_role("a", {"y": "true"}, rules=[], **_aggregates("x")),
        _cluster_role("b", {"x": "true"}, rules=[], **_aggregates("y")),
        _cluster_role("c", {"x": "true"}, rules=[pods]),
        _cluster_binding("nb-a", "a", _sa("team-a")),
        _notebook("team-a", "nb"),
    ]
    found = _findings(tmp_path, objects)
    assert "start pods" in found["Notebook/team-a/nb"].message


def test_a_deep_aggregation_chain_is_bounded(tmp_path: Path) -> None:
    chain = [
        _cluster_role(f"r{i}", {f"l{i}": "true"}, rules=[], **_aggregates(f"l{i + 1}"))
        for i in range(300)
    ]
    objects = [*chain, _cluster_binding("nb-r0", "r0", _sa("team-a")), _notebook("team-a", "nb")]
    start = time.perf_counter()
    found = _findings(tmp_path, objects)
    assert time.perf_counter() - start < 20
    # past the nesting bound the rights are unknown, and a binding is made to grant something
    assert "rights not in the scan" in found["Notebook/team-a/nb"].message


def test_the_service_account_user_name_is_a_subject(tmp_path: Path) -> None:
    user = {"kind": "User", "name": "system:serviceaccount:team-a:default-editor"}
    objects = [_cluster_binding("by-user", "cluster-admin", user), _notebook("team-a", "nb")]
    found = _findings(tmp_path, objects)
    assert found["Notebook/team-a/nb"].evidence["cluster_roles"] == [
        "cluster-admin (ClusterRoleBinding by-user, subject User "
        "system:serviceaccount:team-a:default-editor): every verb on every resource (*)"
    ]


def test_roles_granting_nothing_or_only_urls_are_quiet(tmp_path: Path) -> None:
    urls = {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}
    objects = [
        _cluster_role("metrics-reader", rules=[urls]),
        _cluster_binding("nb-metrics", "metrics-reader", _sa("team-a")),
        _cluster_binding("nb-discovery", "system:discovery", {"kind": "Group", "name": "x"}),
        _notebook("team-a", "nb"),
    ]
    assert _findings(tmp_path, objects) == {}


def test_malformed_rbac_objects_do_not_break_the_rule(tmp_path: Path) -> None:
    objects = [
        _cluster_role("odd", rules="everything", aggregationRule=["not", "a", "mapping"]),
        _cluster_role("odder", rules=[{"apiGroups": {"": 1}, "resources": "pods", "verbs": 7}]),
        {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "x"}},
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": "y", "namespace": "team-b"},
            "roleRef": "edit",
            "subjects": {"kind": "ServiceAccount"},
        },
        _cluster_binding("nb-odd", "odd", _sa("team-a")),
        _cluster_binding("nb-odder", "odder", _sa("team-a")),
        _notebook("team-a", "nb"),
    ]
    found = _findings(tmp_path, objects)
    assert list(found) == ["Notebook/team-a/nb"]  # 'odder' grants pods (a single string)


def test_a_role_binding_in_a_namespace_known_only_at_apply_is_not_placed(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        """
variable "ns" { type = string }
resource "kubernetes_role_binding_v1" "rb" {
  metadata {
    name      = "x"
    namespace = var.ns
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "ClusterRole"
    name      = "edit"
  }
  subject {
    kind      = "ServiceAccount"
    name      = "default-editor"
    namespace = "team-a"
  }
}
resource "kubernetes_role_binding_v1" "known" {
  metadata {
    name      = "y"
    namespace = "team-b"
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "ClusterRole"
    name      = "view"
  }
  subject {
    kind      = "ServiceAccount"
    name      = "default-editor"
    namespace = "team-c"
  }
}
resource "kubernetes_manifest" "nb_a" {
  manifest = {
    apiVersion = "kubeflow.org/v1"
    kind       = "Notebook"
    metadata   = { name = "nb", namespace = "team-a" }
    spec = { template = { spec = { containers = [{ name = "nb", image = "x" }],
      serviceAccountName = "default-editor" } } }
  }
}
resource "kubernetes_manifest" "nb_c" {
  manifest = {
    apiVersion = "kubeflow.org/v1"
    kind       = "Notebook"
    metadata   = { name = "nb", namespace = "team-c" }
    spec = { template = { spec = { containers = [{ name = "nb", image = "x" }],
      serviceAccountName = "default-editor" } } }
  }
}
"""
    )
    found = collect([tmp_path])
    registry = default_registry()
    findings = evaluate(registry, [registry.get(RULE)], found.resources, None)
    # team-c's account holds view in team-b (known): reported; team-a's binding is unplaceable
    assert [f.location.resource for f in findings] == ["Notebook/team-c/nb"]
