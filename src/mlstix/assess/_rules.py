"""The live-only rules: what only a running account can show (trails, detectors, registry
approval of what an endpoint serves, registry policies sharing models, Vertex AI jobs).
Kubernetes and Azure have none: a live Kubernetes object is a manifest and a live Azure resource
an ARM resource, so their rules (Kubeflow's, diagnostic settings) are IaC rules and judge files
and running estates alike; so are bucket and key policies, and Data Access audit logs.

Their metadata is data (``rules/*.yaml``, the format of :mod:`mlstix.scan.rules.iac.model`, mapped
to knowledge-base keys); their logic is registered explicitly, per cloud, into a registry of their
own so the IaC scanner's catalog is unchanged. Rule ids never collide with the IaC rules' (a test
checks).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from mlstix.scan.rules.iac import RuleRegistry

__all__ = ["live_registry"]


@cache
def live_registry() -> RuleRegistry:
    from mlstix.assess import _gcp_rules as gcp_rules
    from mlstix.assess.aws import _rules as aws_rules

    registry = RuleRegistry()
    aws_rules.register(registry)
    gcp_rules.register(registry)
    folder = resources.files("mlstix.assess") / "rules"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            registry.load_yaml(entry.read_text(encoding="utf-8"), f"assess/rules/{entry.name}")
    registry.check()
    return registry
