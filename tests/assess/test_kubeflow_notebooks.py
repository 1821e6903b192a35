"""Kubeflow ``Notebook`` custom resources (kubeflow.org/v1), read by ``mlstix assess kubernetes``
with the real ``kubernetes`` client from a replayed API server: MLSTIX-K8S-KF-002 judges the pod
template the notebook controller runs (its StatefulSet is owned, so skipped)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli

pytest.importorskip("kubernetes", reason="kubernetes (assess extra) is not installed")

from tests.assess.kube_support import kubeconfig, replay_server


def _notebook(ns: str, name: str, pod: dict[str, Any]) -> dict[str, Any]:
    # the shape of the notebook controller's README and the Kubeflow spawner's output
    container = {
        "name": name,
        "image": "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0",
        "ports": [{"name": "notebook-port", "containerPort": 8888, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
    }
    spec = {"serviceAccountName": "default-editor", "containers": [container], **pod}
    if "container" in pod:
        container.update(spec.pop("container"))
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "Notebook",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"template": {"spec": spec}},
        "status": {"readyReplicas": 1},
    }


def _owned_statefulset(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": name,
            "namespace": ns,
            "ownerReferences": [
                {
                    "apiVersion": "kubeflow.org/v1",
                    "kind": "Notebook",
                    "name": name,
                    "uid": "6f1c",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "selector": {"matchLabels": {"statefulset": name}},
            "template": {
                "metadata": {"labels": {"statefulset": name}},
                "spec": {
                    "containers": [
                        {"name": name, "image": "x", "securityContext": {"privileged": True}}
                    ]
                },
            },
        },
    }


def _assess(
    tmp_path: Path, objects: list[dict[str, Any]], forbidden: tuple[str, ...] = ()
) -> tuple[int, Any, str]:
    """``assess kubernetes`` against a replayed cluster; ``forbidden``: resources it refuses to
    list (403)."""
    out = tmp_path / "live.json"
    with replay_server(objects) as (url, replay):
        replay.forbidden.update(forbidden)
        config = kubeconfig(tmp_path / "kubeconfig", url)
        result = CliRunner().invoke(
            cli,
            [
                "assess",
                "kubernetes",
                "--kubeconfig",
                str(config),
                "--format",
                "json",
                "-o",
                str(out),
            ],
        )
    assert all(method == "GET" for method, _ in replay.requests)
    live = json.loads(out.read_text()) if out.exists() else None
    return result.exit_code, live, result.output


def test_privileged_or_node_published_notebooks_fire_hardened_ones_stay_quiet(
    tmp_path: Path,
) -> None:
    objects = [
        _notebook("team-a", "gpu-debug", {"container": {"securityContext": {"privileged": True}}}),
        _notebook(
            "team-a",
            "on-the-node",
            {
                "hostNetwork": True,
                "container": {
                    "ports": [{"containerPort": 8888, "hostPort": 8888, "protocol": "TCP"}]
                },
            },
        ),
        _notebook(
            "team-b",
            "hardened",
            {
                "container": {
                    "securityContext": {
                        "privileged": False,
                        "allowPrivilegeEscalation": False,
                        "runAsNonRoot": True,
                    },
                    "resources": {
                        "requests": {"cpu": "500m", "memory": "1Gi"},
                        "limits": {"cpu": "1", "memory": "2Gi"},
                    },
                }
            },
        ),
        _owned_statefulset("team-b", "hardened"),  # the controller's: judged through its owner
    ]
    code, live, output = _assess(tmp_path, objects)
    assert code == 1, output
    kf = {f["location"]["path"]: f for f in live["findings"] if f["rule_id"] == "MLSTIX-K8S-KF-002"}
    base = "k8s://replay/apis/kubeflow.org/v1/namespaces/team-a/notebooks"
    assert set(kf) == {f"{base}/gpu-debug", f"{base}/on-the-node"}
    debug = kf[f"{base}/gpu-debug"]
    assert debug["evidence"]["privileged"] == [
        "container gpu-debug: securityContext.privileged is true"
    ]
    assert debug["location"]["resource"] == "Notebook/team-a/gpu-debug"
    node = kf[f"{base}/on-the-node"]["evidence"]["node_exposure"]
    assert node == [
        "hostNetwork is true: the notebook server listens on the node's addresses",
        "container on-the-node: port 8888 is published on the node as hostPort 8888",
    ]
    assert not any("hardened" in f["location"]["path"] for f in live["findings"])
    assert any("/notebooks/" in s["path"] for s in live["scanned"])


def test_cluster_without_kubeflow_notes_the_missing_crd(tmp_path: Path) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "ClusterIP", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    code, live, output = _assess(tmp_path, [svc])
    assert code == 0, output
    assert (
        "notebooks.kubeflow.org (kubeflow.org/v1, kubeflow.org/v1beta1, kubeflow.org/v1alpha1) "
        "is not served by the cluster"
    ) in output
    assert live["errors"] == []


def test_a_cluster_serving_only_v1beta1_notebooks_is_read_at_that_version(tmp_path: Path) -> None:
    # Kubeflow before 1.7 serves Notebook at kubeflow.org/v1beta1 only; v1 answers 404
    beta = _notebook(
        "team-a", "legacy", {"container": {"securityContext": {"runAsUser": 0, "privileged": True}}}
    )
    beta["apiVersion"] = "kubeflow.org/v1beta1"
    code, live, output = _assess(tmp_path, [beta])
    assert code == 1, output
    path = "k8s://replay/apis/kubeflow.org/v1beta1/namespaces/team-a/notebooks/legacy"
    for rule_id in ("MLSTIX-K8S-KF-002", "MLSTIX-K8S-KF-003"):
        found = [f for f in live["findings"] if f["rule_id"] == rule_id]
        assert [f["location"]["path"] for f in found] == [path], rule_id
    root = next(f for f in live["findings"] if f["rule_id"] == "MLSTIX-K8S-KF-003")
    assert root["severity"] == "medium" and root["evidence"]["explicit_root"] == ["legacy"]
    assert "notebooks.kubeflow.org" not in output  # read, so not noted as missing


def _cluster_admin_binding(ns: str, account: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{account}-admin"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}],
    }


def test_a_token_with_cluster_wide_rights_is_found_from_the_live_bindings(tmp_path: Path) -> None:
    objects = [
        _notebook("team-a", "ops", {"serviceAccountName": "ops-admin"}),
        _notebook(
            "team-a",
            "quiet",
            {"serviceAccountName": "ops-admin", "automountServiceAccountToken": False},
        ),
        _cluster_admin_binding("team-a", "ops-admin"),
    ]
    code, live, output = _assess(tmp_path, objects)
    assert code == 1, output
    token = [f for f in live["findings"] if f["rule_id"] == "MLSTIX-K8S-KF-005"]
    assert [f["location"]["resource"] for f in token] == ["Notebook/team-a/ops"]
    assert token[0]["evidence"]["service_account"] == "team-a/ops-admin"
    assert "cluster-admin (ClusterRoleBinding ops-admin-admin" in token[0]["message"]


def test_forbidden_bindings_are_an_error_not_a_silent_pass(tmp_path: Path) -> None:
    # the built-in view ClusterRole does not cover RBAC objects: listing them is often forbidden
    objects = [
        _notebook("team-a", "ops", {"serviceAccountName": "ops-admin"}),
        _cluster_admin_binding("team-a", "ops-admin"),
    ]
    _, live, output = _assess(tmp_path, objects, forbidden=("clusterrolebindings",))
    assert [e["message"] for e in live["errors"]] == [
        "list clusterrolebindings.rbac.authorization.k8s.io was forbidden (403): grant the verb "
        "list on clusterrolebindings.rbac.authorization.k8s.io (docs/assess.md lists the "
        "read-only ClusterRole)"
    ]
    assert not [f for f in live["findings"] if f["rule_id"] == "MLSTIX-K8S-KF-005"]
    # the rest of the assessment is judged: the notebook may run as root
    assert any(f["rule_id"] == "MLSTIX-K8S-KF-003" for f in live["findings"]), output


def _rbac(kind: str, name: str, ns: str | None = None, **body: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": ns} if ns else {})}
    meta.update(body.pop("metadata", {}))
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, **body}


def _binding(
    kind: str, name: str, role: str, account: str, ns: str | None = None
) -> dict[str, Any]:
    role_kind = "Role" if role.startswith("Role/") else "ClusterRole"
    sa_ns, sa = account.split("/")
    return _rbac(
        kind,
        name,
        ns,
        roleRef={
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role_kind,
            "name": role.removeprefix("Role/"),
        },
        subjects=[{"kind": "ServiceAccount", "name": sa, "namespace": sa_ns}],
    )


_AGGREGATE = {"rbac.authorization.kubeflow.org/aggregate-to-kubeflow-edit": "true"}
_SECRETS = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}


def test_live_rbac_aggregated_roles_and_bindings_in_other_namespaces(tmp_path: Path) -> None:
    objects = [
        # as a cluster serves them: the aggregation controller has written the union into rules
        _rbac(
            "ClusterRole",
            "kubeflow-edit",
            aggregationRule={"clusterRoleSelectors": [{"matchLabels": _AGGREGATE}]},
            rules=[_SECRETS],
        ),
        _rbac("ClusterRole", "kubeflow-secrets", metadata={"labels": _AGGREGATE}, rules=[_SECRETS]),
        # an aggregated role nothing feeds: the controller leaves its rules empty
        _rbac(
            "ClusterRole",
            "unused-aggregate",
            aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"feeds": "nothing"}}]},
            rules=[],
        ),
        _binding("ClusterRoleBinding", "a-everywhere", "kubeflow-edit", "team-a/editor"),
        _binding("ClusterRoleBinding", "b-unused", "unused-aggregate", "team-b/editor"),
        _binding("RoleBinding", "c-in-d", "Role/reader", "team-c/editor", ns="team-d"),
        _rbac("Role", "reader", "team-d", rules=[_SECRETS]),
        _notebook("team-a", "a", {"serviceAccountName": "editor"}),
        _notebook("team-b", "b", {"serviceAccountName": "editor"}),
        _notebook("team-c", "c", {"serviceAccountName": "editor"}),
    ]
    code, live, output = _assess(tmp_path, objects)
    assert code == 1, output
    token = {
        f["location"]["resource"]: f
        for f in live["findings"]
        if f["rule_id"] == "MLSTIX-K8S-KF-005"
    }
    assert set(token) == {"Notebook/team-a/a", "Notebook/team-c/c"}
    assert token["Notebook/team-a/a"]["evidence"]["cluster_roles"] == [
        "kubeflow-edit (ClusterRoleBinding a-everywhere, subject ServiceAccount team-a/editor, "
        "aggregating kubeflow-secrets): read secrets"
    ]
    assert token["Notebook/team-c/c"]["evidence"]["other_namespaces"] == [
        "team-d/reader (RoleBinding team-d/c-in-d, subject ServiceAccount team-c/editor) in "
        "namespace team-d: read secrets"
    ]
    assert token["Notebook/team-a/a"]["severity"] == "high"
    listed = {path for _, path in _listed_plurals(live)}
    assert {"rolebindings", "clusterroles", "roles"} <= listed


def _listed_plurals(live: Any) -> list[tuple[str, str]]:
    return [(s["kind"], s["path"].split("/")[-2]) for s in live["scanned"]]


def test_live_pod_starter_beside_a_cluster_admin_account_and_forbidden_roles(
    tmp_path: Path,
) -> None:
    objects = [
        _binding("RoleBinding", "default-editor", "edit", "team-a/default-editor", ns="team-a"),
        _binding("RoleBinding", "default-viewer", "view", "team-a/default-viewer", ns="team-a"),
        _binding("ClusterRoleBinding", "runner-admin", "cluster-admin", "team-a/pipeline-runner"),
        _notebook("team-a", "editor", {"serviceAccountName": "default-editor"}),
        _notebook("team-a", "viewer", {"serviceAccountName": "default-viewer"}),
    ]
    # the reader may not list ClusterRoles: the default roles are known by what they grant
    code, live, output = _assess(tmp_path, objects, forbidden=("clusterroles",))
    token = [f for f in live["findings"] if f["rule_id"] == "MLSTIX-K8S-KF-005"]
    assert [f["location"]["resource"] for f in token] == ["Notebook/team-a/editor"]
    assert token[0]["evidence"]["pivot_accounts"] == [
        "team-a/pipeline-runner (ClusterRole cluster-admin)"
    ]
    assert [e["message"].split(" was ")[0] for e in live["errors"]] == [
        "list clusterroles.rbac.authorization.k8s.io"
    ]
    assert code == 2, output  # part of the cluster could not be read
