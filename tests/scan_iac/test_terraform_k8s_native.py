"""The Kubernetes provider's typed resources read as the objects they create: field names,
repeated and single blocks, maps kept verbatim, unknown values kept unknown; and the same
workload written as typed Terraform resources and as a manifest gets the same findings."""

from __future__ import annotations

import json
from pathlib import Path

from mlstix.scan.iac import collect
from mlstix.scan.iac._tfk8s_native import kind_of, to_object
from mlstix.scan.iac._values import Expr
from mlstix.scan.rules.iac import default_registry, evaluate


def test_names_blocks_and_maps() -> None:
    attrs = {
        "metadata": [{"name": "m", "namespace": "ns", "labels": {"app.kubernetes.io/name": "m"}}],
        "spec": [
            {
                "template": [
                    {
                        "spec": [
                            {
                                "host_pid": True,
                                "host_ipc": False,
                                "automount_service_account_token": Expr("var.a"),
                                "container": [
                                    {
                                        "name": "c",
                                        "image": "i",
                                        "security_context": [{"run_as_non_root": True}],
                                        "resources": [{"limits": {"nvidia.com/gpu": 1}}],
                                        "port": [{"container_port": 80, "host_port": 80}],
                                        "volume_mount": [{"name": "v", "mount_path": "/m"}],
                                    }
                                ],
                                "volume": [{"name": "v", "host_path": [{"path": "/mnt"}]}],
                            }
                        ]
                    }
                ]
            }
        ],
        "wait_for_rollout": True,
    }
    obj = to_object("kubernetes_deployment_v1", attrs)
    assert obj is not None
    assert (obj["apiVersion"], obj["kind"]) == ("apps/v1", "Deployment")
    assert "waitForRollout" not in obj
    assert obj["metadata"]["labels"] == {"app.kubernetes.io/name": "m"}  # map keys kept
    pod = obj["spec"]["template"]["spec"]
    assert pod["hostPID"] is True and pod["hostIPC"] is False
    assert pod["automountServiceAccountToken"] == Expr("var.a")  # unknown stays unknown
    (c,) = pod["containers"]
    assert c["securityContext"] == {"runAsNonRoot": True}
    assert c["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert c["ports"] == [{"containerPort": 80, "hostPort": 80}]
    assert c["volumeMounts"] == [{"name": "v", "mountPath": "/m"}]
    assert pod["volumes"] == [{"name": "v", "hostPath": {"path": "/mnt"}}]


def test_service_ingress_and_rbac_shapes() -> None:
    svc = to_object(
        "kubernetes_service",
        {
            "metadata": [{"name": "s"}],
            "spec": [
                {
                    "type": "LoadBalancer",
                    "selector": {"app": "x"},
                    "external_ips": ["203.0.113.7"],
                    "port": [{"port": 80, "target_port": 8080}],
                }
            ],
        },
    )
    assert svc is not None
    assert svc["spec"] == {
        "type": "LoadBalancer",
        "selector": {"app": "x"},
        "externalIPs": ["203.0.113.7"],
        "ports": [{"port": 80, "targetPort": 8080}],
    }
    ing = to_object(
        "kubernetes_ingress_v1",
        {
            "metadata": [{"name": "i"}],
            "spec": [
                {
                    "rule": [
                        {
                            "http": [
                                {
                                    "path": [
                                        {
                                            "path": "/",
                                            "backend": [
                                                {
                                                    "service": [
                                                        {"name": "s", "port": [{"number": 80}]}
                                                    ]
                                                }
                                            ],
                                        }
                                    ]
                                }
                            ]
                        }
                    ]
                }
            ],
        },
    )
    assert ing is not None
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "s", "port": {"number": 80}}}  # a single port
    crb = to_object(
        "kubernetes_cluster_role_binding_v1",
        {
            "metadata": [{"name": "b"}],
            "role_ref": [{"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole"}],
            "subject": [{"kind": "ServiceAccount", "name": "sa", "namespace": "n"}],
        },
    )
    assert crb is not None
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole"}
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "sa", "namespace": "n"}]
    assert kind_of("kubernetes_cron_job_v1") == ("batch/v1", "CronJob")
    assert kind_of("kubernetes_secret") is None  # not read: the rules need no secret
    assert to_object("aws_s3_bucket", {}) is None


_TF = """
resource "kubernetes_limit_range_v1" "defaults" {
  metadata {
    name      = "defaults"
    namespace = "serving"
  }
  spec {
    limit {
      type    = "Container"
      default = { cpu = "2" }
    }
  }
}

resource "kubernetes_deployment_v1" "vllm" {
  metadata {
    name      = "vllm"
    namespace = "serving"
  }
  spec {
    selector {
      match_labels = { app = "vllm" }
    }
    template {
      metadata {
        labels = { app = "vllm" }
      }
      spec {
        host_network = true
        container {
          name  = "vllm"
          image = "vllm/vllm-openai:latest"
          args  = ["--model", "/models/m", "--trust-remote-code"]
          security_context {
            run_as_user                = 0
            read_only_root_filesystem = true
          }
          port {
            container_port = 8000
          }
        }
        volume {
          name = "models"
          host_path {
            path = "/mnt/models"
          }
        }
      }
    }
  }
}

resource "kubernetes_service_v1" "vllm" {
  metadata {
    name      = "vllm"
    namespace = "serving"
  }
  spec {
    type     = "LoadBalancer"
    selector = { app = "vllm" }
    port {
      port        = 80
      target_port = 8000
    }
  }
}
"""

_YAML = """
apiVersion: v1
kind: LimitRange
metadata: {name: defaults, namespace: serving}
spec:
  limits:
  - type: Container
    default: {cpu: "2"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: vllm, namespace: serving}
spec:
  selector: {matchLabels: {app: vllm}}
  template:
    metadata: {labels: {app: vllm}}
    spec:
      hostNetwork: true
      containers:
      - name: vllm
        image: vllm/vllm-openai:latest
        args: ["--model", "/models/m", "--trust-remote-code"]
        securityContext: {runAsUser: 0, readOnlyRootFilesystem: true}
        ports: [{containerPort: 8000}]
      volumes:
      - name: models
        hostPath: {path: /mnt/models}
---
apiVersion: v1
kind: Service
metadata: {name: vllm, namespace: serving}
spec:
  type: LoadBalancer
  selector: {app: vllm}
  ports: [{port: 80, targetPort: 8000}]
"""


def _findings(folder: Path) -> set[tuple[str, str]]:
    registry = default_registry()
    rules = [r for r in registry if r.cloud == "kubernetes"]
    scanned = collect([folder])
    assert not scanned.errors, scanned.errors
    found = evaluate(registry, rules, scanned.resources, None)
    return {(f.rule_id, str(f.location.resource)) for f in found}


def test_typed_resources_and_the_manifest_get_the_same_findings(tmp_path: Path) -> None:
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "main.tf").write_text(_TF)
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "all.yaml").write_text(_YAML)
    from_tf, from_yaml = _findings(tmp_path / "tf"), _findings(tmp_path / "k8s")
    assert from_tf == from_yaml
    rules = {r for r, _ in from_tf}
    # root, host path, mutable tag, trust-remote-code, no API key, memory limit missing (the
    # LimitRange gives cpu only), exposed without auth
    assert {
        "MLSTIX-K8S-SRV-002",
        "MLSTIX-K8S-SRV-004",
        "MLSTIX-K8S-SRV-006",
        "MLSTIX-K8S-SRV-008",
        "MLSTIX-K8S-SRV-012",
        "MLSTIX-K8S-SRV-013",
        "MLSTIX-K8S-SRV-014",
    } <= rules
    assert "MLSTIX-K8S-SRV-003" not in rules  # readOnlyRootFilesystem true


def test_a_plan_applies_its_kubernetes_objects(tmp_path: Path) -> None:
    # terraform show -json: kubernetes_manifest values and typed resources' blocks as lists
    notebook = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "Notebook",
        "metadata": {"name": "nb", "namespace": "team-a", "labels": None},
        "spec": {"template": {"spec": {"hostNetwork": True, "containers": [{"name": "nb"}]}}},
    }
    deployment = {
        "metadata": [{"name": "triton", "namespace": "serving"}],
        "spec": [
            {
                "selector": [{"match_labels": {"app": "triton"}}],
                "template": [
                    {
                        "metadata": [{"labels": {"app": "triton"}}],
                        "spec": [
                            {
                                "container": [
                                    {
                                        "name": "triton",
                                        "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
                                        "security_context": [{"privileged": True}],
                                    }
                                ]
                            }
                        ],
                    }
                ],
            }
        ],
    }

    def resource(rtype: str, name: str, values: object) -> dict[str, object]:
        return {
            "address": f"{rtype}.{name}",
            "mode": "managed",
            "type": rtype,
            "name": name,
            "provider_name": "registry.terraform.io/hashicorp/kubernetes",
            "values": values,
        }

    plan = {
        "format_version": "1.2",
        "planned_values": {
            "root_module": {
                "resources": [
                    resource("kubernetes_manifest", "nb", {"manifest": notebook}),
                    resource("kubernetes_deployment_v1", "triton", deployment),
                ]
            }
        },
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    found = _findings(tmp_path)
    assert ("MLSTIX-K8S-KF-002", "Notebook/team-a/nb") in found
    assert ("MLSTIX-K8S-SRV-001", "Deployment/serving/triton") in found
