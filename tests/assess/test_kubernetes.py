"""``mlstix assess kubernetes`` with the real ``kubernetes`` client against a replayed API server.

The differential test serves the IaC rule fixtures' manifests from the API server and requires
the live assessment to find exactly what ``scan iac`` finds in the same manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from mlstix.cli.main import cli

pytest.importorskip("kubernetes", reason="kubernetes (assess extra) is not installed")

from tests.assess.kube_support import TOKEN, kubeconfig, replay_server

FIXTURES = Path(__file__).parents[1] / "scan_iac" / "fixtures"
K8S_DIRS = sorted(p for p in FIXTURES.glob("MLSTIX-K8S-*/kubernetes") if p.is_dir())
CLUSTER_SCOPED = {"ClusterServingRuntime"}


def _objects(folder: Path) -> list[dict[str, Any]]:
    out = []
    for f in sorted(folder.iterdir()):
        for doc in yaml.safe_load_all(f.read_text()):
            if isinstance(doc, dict) and "kind" in doc:
                doc.setdefault("metadata", {})
                if doc["kind"] not in CLUSTER_SCOPED:
                    doc["metadata"].setdefault("namespace", "default")
                out.append(doc)
    return out


def _assess(tmp_path: Path, server: str, *args: str) -> tuple[Result, Any]:
    config = kubeconfig(tmp_path / "kubeconfig", server)
    out = tmp_path / "live.json"
    result = CliRunner().invoke(
        cli,
        [
            "assess",
            "kubernetes",
            "--kubeconfig",
            str(config),
            *args,
            "--format",
            "json",
            "-o",
            str(out),
        ],
    )
    return result, json.loads(out.read_text()) if out.exists() else None


def _iac(tmp_path: Path, folder: Path) -> Any:
    out = tmp_path / "iac.json"
    CliRunner().invoke(
        cli,
        ["scan", "iac", str(folder), "--cloud", "kubernetes", "--format", "json", "-o", str(out)],
    )
    return json.loads(out.read_text())


@pytest.mark.parametrize("folder", K8S_DIRS, ids=lambda p: p.parent.name)
def test_live_finds_what_the_iac_scan_finds_in_the_same_manifests(
    tmp_path: Path, folder: Path
) -> None:
    with replay_server(_objects(folder)) as (url, replay):
        result, live = _assess(tmp_path, url)
    assert result.exit_code in (0, 1), result.output
    assert live["errors"] == []
    iac = _iac(tmp_path, folder)
    expected = {(f["rule_id"], f["location"]["resource"]) for f in iac["findings"]}
    from mlstix.assess._rules import live_registry

    live_only = set(live_registry().rules)
    found = {
        (f["rule_id"], f["location"]["resource"])
        for f in live["findings"]
        if f["rule_id"] not in live_only
    }
    assert found == expected
    assert expected, "the fixture should fail at least one rule"
    assert {m for m, _ in replay.requests} == {"GET"}
    for f in live["findings"]:
        assert f["location"]["path"].startswith("k8s://replay/")


def _server_objects() -> list[dict[str, Any]]:
    env = [
        {"name": "HF_TOKEN", "value": "hf_cluster_secret_value"},
        {"name": "MODEL_ID", "value": "meta-llama/Llama-3.1-8B"},
    ]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "vllm",
            "namespace": "llm",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"env": env}),
            },
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {
            "selector": {"matchLabels": {"app": "vllm"}},
            "template": {
                "metadata": {"labels": {"app": "vllm"}},
                "spec": {
                    "containers": [
                        {
                            "name": "vllm",
                            "image": "vllm/vllm-openai:v0.6.0",
                            "securityContext": {"privileged": True},
                            "env": env,
                        }
                    ]
                },
            },
        },
        "status": {"replicas": 1},
    }
    owned_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "vllm-5d4f-abcde",
            "namespace": "llm",
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": "vllm-5d4f", "controller": True, "uid": "1"}
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "vllm",
                    "image": "vllm/vllm-openai:v0.6.0",
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }
    others = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"web-{i}", "namespace": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "w", "image": "nginx:1.27"}]}}},
        }
        for i in range(5)
    ]
    return [deployment, owned_pod, *others]


def test_owned_objects_skipped_secrets_removed_pages_followed(tmp_path: Path) -> None:
    with replay_server(_server_objects()) as (url, replay):
        snap = tmp_path / "snap"
        result, live = _assess(tmp_path, url, "--snapshot-out", str(snap))
    assert result.exit_code == 1, result.output
    resources = {f["location"]["resource"] for f in live["findings"]}
    assert "Deployment/llm/vllm" in resources
    assert not any("vllm-5d4f" in r for r in resources)  # the pod its ReplicaSet owns
    scanned = {s["path"] for s in live["scanned"]}
    assert sum("/deployments/web-" in p for p in scanned) == 5  # three pages of two
    assert any("continue=2" in path for _, path in replay.requests)
    text = (snap / "snapshot.json").read_text()
    for secret in ("hf_cluster_secret_value", TOKEN, "last-applied-configuration", "managedFields"):
        assert secret not in text
        assert secret not in result.output
    assert "meta-llama/Llama-3.1-8B" in text
    # custom resources the cluster does not serve are noted, not errors
    assert "inferenceservices.serving.kserve.io (serving.kserve.io/v1beta1) is not served" in (
        result.output
    )


def test_namespace_filter_and_forbidden_kind(tmp_path: Path) -> None:
    with replay_server(_server_objects()) as (url, replay):
        replay.forbidden.add("networkpolicies")
        result, live = _assess(tmp_path, url, "-n", "web")
    assert result.exit_code == 2  # a kind could not be listed: never silently clean
    assert live["errors"] == [
        {
            "path": "k8s://replay/apis/networking.k8s.io/v1/namespaces/web/networkpolicies",
            "message": "list networkpolicies.networking.k8s.io in namespace web was forbidden "
            "(403): grant the verb list on networkpolicies.networking.k8s.io (docs/assess.md "
            "lists the read-only ClusterRole)",
        }
    ]
    assert all(
        "/namespaces/web/" in s["path"] or "clusterservingruntimes" in s["path"]
        for s in live["scanned"]
    )
    namespaced = [p for _, p in replay.requests if "/namespaces/" in p]
    assert namespaced and all("/namespaces/web/" in p for p in namespaced)


def test_bad_token_unreachable_server_and_missing_config_exit_2(tmp_path: Path) -> None:
    with replay_server([]) as (url, _):
        config = kubeconfig(tmp_path / "bad", url, token="wrong")
        result = CliRunner().invoke(cli, ["assess", "kubernetes", "--kubeconfig", str(config)])
    assert result.exit_code == 2
    assert "rejected the credentials" in result.output and "Traceback" not in result.output
    config = kubeconfig(tmp_path / "gone", "http://127.0.0.1:9")
    result = CliRunner().invoke(cli, ["assess", "kubernetes", "--kubeconfig", str(config)])
    assert result.exit_code == 2 and "cannot reach the Kubernetes API server" in result.output
    result = CliRunner().invoke(
        cli, ["assess", "kubernetes", "--kubeconfig", str(tmp_path / "missing")]
    )
    assert result.exit_code == 2 and "no kubeconfig file at" in result.output
    result = CliRunner().invoke(
        cli, ["assess", "kubernetes", "--kubeconfig", str(config), "--context", "nope"]
    )
    assert result.exit_code == 2 and "no Kubernetes credentials" in result.output
    assert "Traceback" not in result.output


def test_kubeflow_pipelines_behind_a_load_balancer(tmp_path: Path) -> None:
    # Services as the API server returns them (kubeflow/manifests apps/pipeline/upstream)
    def service(ns: str, name: str, kind: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {
                "type": kind,
                "selector": {"app": name, "application-crd-id": "kubeflow-pipelines"},
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 3000}],
                "clusterIP": "10.96.12.7",
            },
        }

    objects = [
        service("kubeflow", "ml-pipeline-ui", "LoadBalancer"),
        service("kubeflow-staging", "ml-pipeline-ui", "ClusterIP"),
    ]
    with replay_server(objects) as (url, _):
        result, live = _assess(tmp_path, url)
    assert result.exit_code == 1, result.output
    kf = [f for f in live["findings"] if f["rule_id"] == "MLSTIX-K8S-KF-001"]
    assert [f["location"]["path"] for f in kf] == [
        "k8s://replay/api/v1/namespaces/kubeflow/services/ml-pipeline-ui"
    ]
    assert "spec.type is LoadBalancer" in kf[0]["message"]


def _isvc(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "predictor": {
                "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://acme-models/m"}
            }
        },
    }


def _policy(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1beta1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def test_istio_authorization_policies_by_scope_and_action(tmp_path: Path) -> None:
    # Istio AuthorizationPolicy reference: root-namespace policies are mesh-wide; CUSTOM
    # delegates to an external authorizer; DENY and an ALLOW rule without from/when let anyone in
    selector = {"matchLabels": {"serving.kserve.io/inferenceservice": "mesh"}}
    objects = [
        _isvc("team-a", "mesh"),  # covered by the root namespace's CUSTOM policy
        _policy(
            "istio-system",
            "ext-authz",
            {"selector": selector, "action": "CUSTOM", "provider": {"name": "oauth2-proxy"}},
        ),
        _isvc("team-b", "principals"),  # ALLOW only from a service account: quiet
        _policy(
            "team-b",
            "callers",
            {
                "action": "ALLOW",
                "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/app/sa/web"]}}]}],
            },
        ),
        _isvc("team-c", "denied-paths"),  # DENY of some paths: everything else open
        _policy(
            "team-c",
            "no-admin",
            {"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin*"]}}]}]},
        ),
        _isvc("team-d", "allow-all"),  # ALLOW with an empty rule: allows every request
        _policy("team-d", "all", {"action": "ALLOW", "rules": [{}]}),
        _isvc("team-e", "other-ns"),  # a policy of another (non-root) namespace does not count
        _policy("team-a", "elsewhere", {"action": "CUSTOM", "provider": {"name": "x"}}),
    ]
    with replay_server(objects) as (url, _):
        result, live = _assess(tmp_path, url)
    assert result.exit_code == 1, result.output
    open_ = {
        f["location"]["resource"] for f in live["findings"] if f["rule_id"] == "MLSTIX-K8S-SRV-008"
    }
    assert open_ == {
        "InferenceService/team-c/denied-paths",
        "InferenceService/team-d/allow-all",
        "InferenceService/team-e/other-ns",
    }


def test_network_policy_that_admits_every_source_restricts_nothing(tmp_path: Path) -> None:
    def server(ns: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "triton", "namespace": ns},
            "spec": {
                "selector": {"matchLabels": {"app": "triton"}},
                "template": {
                    "metadata": {"labels": {"app": "triton"}},
                    "spec": {
                        "containers": [
                            {"name": "triton", "image": "nvcr.io/nvidia/tritonserver:24.08-py3"}
                        ]
                    },
                },
            },
        }

    def policy(ns: str, ingress: list[Any]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "serving", "namespace": ns},
            "spec": {
                "podSelector": {"matchLabels": {"app": "triton"}},
                "policyTypes": ["Ingress"],
                "ingress": ingress,
            },
        }

    gateway = {"from": [{"namespaceSelector": {"matchLabels": {"name": "gateway"}}}]}
    objects = [
        server("open"),
        policy("open", [{}]),  # one rule without from: every source
        server("ports-only"),
        policy("ports-only", [{"ports": [{"port": 8000}]}]),
        server("gated"),
        policy("gated", [gateway]),
        server("deny-all"),
        policy("deny-all", []),
    ]
    with replay_server(objects) as (url, _):
        result, live = _assess(tmp_path, url)
    assert result.exit_code == 1, result.output
    flagged = {
        f["location"]["resource"] for f in live["findings"] if f["rule_id"] == "MLSTIX-K8S-SRV-007"
    }
    assert flagged == {"Deployment/open/triton", "Deployment/ports-only/triton"}
