"""Values unknown at plan time (Terraform variables without a default or value) are neither a
pass nor a finding's reason: the Kubernetes pod rules (model servers and Kubeflow notebooks)
judged through ``kubernetes_manifest`` must not report what only an unknown value decides, and
must still report what a known value decides (the nearest finding)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import default_registry, evaluate

_VARS = """
variable "sc" { type = any }
variable "read_only" { type = bool }
variable "limits" { type = any }
variable "automount" { type = bool }
variable "account" { type = string }
variable "host_network" { type = bool }
"""

_SERVER = """
resource "kubernetes_manifest" "server" {
  manifest = {
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata   = { name = "triton", namespace = "serving" }
    spec = {
      selector = { matchLabels = { app = "triton" } }
      template = {
        metadata = { labels = { app = "triton" } }
        spec = {
          automountServiceAccountToken = AUTOMOUNT
          containers = [{
            name            = "triton"
            image           = "nvcr.io/nvidia/tritonserver:24.08-py3@sha256:0d1e"
            securityContext = SC
            resources       = { limits = LIMITS }
          }]
        }
      }
    }
  }
}
"""

_NOTEBOOK = """
resource "kubernetes_manifest" "notebook" {
  manifest = {
    apiVersion = "kubeflow.org/v1"
    kind       = "Notebook"
    metadata   = { name = "research", namespace = "team-a" }
    spec = {
      template = {
        spec = {
          serviceAccountName           = ACCOUNT
          automountServiceAccountToken = AUTOMOUNT
          hostNetwork                  = HOSTNET
          containers = [{
            name            = "research"
            image           = "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0"
            securityContext = SC
            resources       = { limits = LIMITS }
          }]
        }
      }
    }
  }
}

resource "kubernetes_manifest" "admin_binding" {
  manifest = {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "ClusterRoleBinding"
    metadata   = { name = "nb-admin" }
    roleRef = {
      apiGroup = "rbac.authorization.k8s.io"
      kind     = "ClusterRole"
      name     = "cluster-admin"
    }
    subjects   = [{ kind = "ServiceAccount", name = "nb-admin", namespace = "team-a" }]
  }
}
"""

_UNKNOWN = {
    "AUTOMOUNT": "var.automount",
    "SC": "var.sc",
    "LIMITS": "var.limits",
    "ACCOUNT": "var.account",
    "HOSTNET": "var.host_network",
}
_KNOWN_BAD = {
    "AUTOMOUNT": "true",
    "SC": "{ runAsUser = 0, privileged = true, readOnlyRootFilesystem = false }",
    "LIMITS": '{ "nvidia.com/gpu" = 1 }',
    "ACCOUNT": '"nb-admin"',
    "HOSTNET": "true",
}
_RULES = {
    "MLSTIX-K8S-SRV-001": "Deployment/serving/triton",
    "MLSTIX-K8S-SRV-002": "Deployment/serving/triton",
    "MLSTIX-K8S-SRV-003": "Deployment/serving/triton",
    "MLSTIX-K8S-SRV-005": "Deployment/serving/triton",
    "MLSTIX-K8S-SRV-006": "Deployment/serving/triton",
    "MLSTIX-K8S-KF-002": "Notebook/team-a/research",
    "MLSTIX-K8S-KF-003": "Notebook/team-a/research",
    "MLSTIX-K8S-KF-004": "Notebook/team-a/research",
    "MLSTIX-K8S-KF-005": "Notebook/team-a/research",
}


def _scan(tmp_path: Path, values: dict[str, str]) -> set[tuple[str, str]]:
    text = _VARS + _SERVER + _NOTEBOOK
    for key, value in values.items():
        text = text.replace(f"= {key}\n", f"= {value}\n").replace(f"= {key} }}", f"= {value} }}")
    (tmp_path / "main.tf").write_text(text)
    registry = default_registry()
    scanned = collect([tmp_path])
    assert not scanned.errors, scanned.errors
    rules = [registry.get(r) for r in _RULES]
    found = evaluate(registry, rules, scanned.resources, None)
    return {(f.rule_id, str(f.location.resource)) for f in found}


def test_unknown_pod_settings_report_nothing(tmp_path: Path) -> None:
    found = _scan(tmp_path, _UNKNOWN)
    # SRV-001/KF-002 (privileged), SRV-002/KF-003 (root), SRV-003 (read-only), SRV-005/KF-005
    # (token), SRV-006/KF-004 (limits) all depend on an unknown value
    assert found == set()


@pytest.mark.parametrize("rule_id", sorted(_RULES))
def test_the_same_settings_known_and_bad_are_reported(tmp_path: Path, rule_id: str) -> None:
    assert (rule_id, _RULES[rule_id]) in _scan(tmp_path, _KNOWN_BAD)
