"""The rule registry: rule metadata from ``data/*.yaml`` plus the Python logic they name.

Python rules register explicitly: each logic module exports ``LOGIC`` (name → function), which
:func:`default_registry` adds (no work at import time). A logic function receives a
:class:`~.context.Context` (every resource of the scan, indexed) and yields
:class:`~.context.Hit` values; the engine (:mod:`mlstix.scan.rules.iac.engine`) turns hits into
findings. The rule modules import :mod:`.context` only, never this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from importlib import resources

import yaml
from pydantic import ValidationError

from mlstix.errors import MlstixError
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac.context import Context, Hit, Logic
from mlstix.scan.rules.iac.model import Rule, RuleFile

__all__ = ["Context", "Hit", "Logic", "RuleRegistry", "Subjects", "default_registry"]

# the resources a Python rule judges, where they are fewer than every resource of its types
Subjects = Callable[[Context], Iterable[Resource]]


class RuleRegistry:
    """Rules by id, and the Python logic functions by name."""

    def __init__(self) -> None:
        self.rules: dict[str, Rule] = {}
        self.logic: dict[str, Logic] = {}
        # by logic name: which resources of its declared types it judges (model buckets of all
        # buckets, model servers of all workloads); without one, every resource of them
        self.subjects: dict[str, Subjects] = {}

    def logic_function(self, name: str) -> Callable[[Logic], Logic]:
        """Decorator: register ``fn`` as the logic named ``name``."""

        def deco(fn: Logic) -> Logic:
            if name in self.logic:
                raise ValueError(f"logic {name!r} registered twice")
            self.logic[name] = fn
            return fn

        return deco

    def add_logic(self, table: Mapping[str, Logic]) -> None:
        """Register every function of a rule module's ``LOGIC`` table."""
        for name, fn in table.items():
            self.logic_function(name)(fn)

    def add_subjects(self, table: Mapping[str, Subjects]) -> None:
        """Narrow what Python rules judge: logic name -> the resources it judges."""
        for name, fn in table.items():
            if name in self.subjects:
                raise ValueError(f"subjects of {name!r} registered twice")
            self.subjects[name] = fn

    def add(self, rule: Rule, origin: str) -> None:
        if rule.id in self.rules:
            raise MlstixError(f"{origin}: rule {rule.id} is defined twice")
        self.rules[rule.id] = rule

    def load_yaml(self, text: str, origin: str) -> None:
        try:
            data = RuleFile.model_validate(yaml.safe_load(text))
        except (yaml.YAMLError, ValidationError) as exc:
            raise MlstixError(f"invalid rule file {origin}: {exc}") from None
        for rule in data.rules:
            self.add(rule, origin)

    def check(self) -> None:
        """Every Python rule's logic exists, and it declares what it judges in each language
        (without it, a scan could not tell a rule that judged something from one that had
        nothing to judge, and a benchmark control would pass on rules that judged nothing)."""
        for rule in self.rules.values():
            if rule.logic is not None and rule.logic not in self.logic:
                raise MlstixError(f"rule {rule.id}: no logic registered as {rule.logic!r}")
        for rule in self.rules.values():
            missing = [d for d in rule.dialects if not rule.subjects(d)]
            if missing:
                raise MlstixError(
                    f"rule {rule.id}: no 'judges' for {', '.join(missing)}",
                    hint="list, per language, the resource types the rule's logic judges",
                )

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self.rules.values(), key=lambda r: r.id))

    def get(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id.upper()]
        except KeyError:
            raise MlstixError(
                f"no rule {rule_id!r}", hint="`mlstix rules list` shows the rule ids"
            ) from None


@cache
def default_registry() -> RuleRegistry:
    """The packaged rules and logic, loaded once."""
    import mlstix.scan.rules.iac.aws as aws_rules
    import mlstix.scan.rules.iac.aws_capture as aws_capture_rules
    import mlstix.scan.rules.iac.aws_iam as aws_iam_rules
    import mlstix.scan.rules.iac.aws_lifecycle as aws_lifecycle_rules
    import mlstix.scan.rules.iac.aws_models as aws_model_rules
    import mlstix.scan.rules.iac.aws_processing as aws_processing_rules
    import mlstix.scan.rules.iac.aws_sagemaker as aws_sagemaker_rules
    import mlstix.scan.rules.iac.aws_sharing as aws_sharing_rules
    import mlstix.scan.rules.iac.aws_training as aws_training_rules
    import mlstix.scan.rules.iac.azure as azure_rules
    import mlstix.scan.rules.iac.azure_acr as azure_acr_rules
    import mlstix.scan.rules.iac.azure_compute as azure_compute_rules
    import mlstix.scan.rules.iac.azure_diagnostics as azure_diagnostics_rules
    import mlstix.scan.rules.iac.azure_network as azure_network_rules
    import mlstix.scan.rules.iac.gcp as gcp_rules
    import mlstix.scan.rules.iac.gcp_audit as gcp_audit_rules
    import mlstix.scan.rules.iac.k8s_serving as k8s_serving_rules
    import mlstix.scan.rules.iac.key_rotation as key_rotation_rules
    import mlstix.scan.rules.iac.kubeflow as kubeflow_rules
    import mlstix.scan.rules.iac.kubernetes as k8s_rules

    registry = RuleRegistry()
    modules = (
        aws_rules,
        aws_capture_rules,
        aws_iam_rules,
        aws_lifecycle_rules,
        aws_model_rules,
        aws_processing_rules,
        aws_sagemaker_rules,
        aws_sharing_rules,
        aws_training_rules,
        azure_rules,
        azure_acr_rules,
        azure_compute_rules,
        azure_diagnostics_rules,
        azure_network_rules,
        gcp_rules,
        gcp_audit_rules,
        k8s_rules,
        k8s_serving_rules,
        key_rotation_rules,
        kubeflow_rules,
    )
    for module in modules:
        registry.add_logic(module.LOGIC)
    registry.add_subjects(_narrowed())
    folder = resources.files("mlstix.scan.rules.iac") / "data"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            registry.load_yaml(entry.read_text(encoding="utf-8"), f"rules/iac/data/{entry.name}")
    registry.check()
    return registry


def _narrowed() -> dict[str, Subjects]:
    """The Python rules that judge only some resources of their declared types, and which: the
    helper their logic iterates, so what counts as judged is what the logic looks at."""
    from mlstix.scan.rules.iac.aws import model_buckets
    from mlstix.scan.rules.iac.aws_sharing import ml_keys
    from mlstix.scan.rules.iac.aws_training import pipeline_steps
    from mlstix.scan.rules.iac.azure_acr import dct_registries
    from mlstix.scan.rules.iac.gcp import model_buckets as gcs_model_buckets
    from mlstix.scan.rules.iac.key_rotation import (
        aws_rotation_keys,
        azure_rotation_keys,
        gcp_rotation_keys,
    )
    from mlstix.scan.rules.iac.kubeflow import kubeflow_services
    from mlstix.scan.rules.iac.kubernetes import servers

    def model_servers(ctx: Context) -> list[Resource]:
        return [s.resource for s in servers(ctx)]

    def pipelines(kind: str) -> Subjects:
        def judged(ctx: Context) -> list[Resource]:
            key = f"pipelines-with-{kind}-steps"
            if key not in ctx.memo:
                ctx.memo[key] = list({id(r): r for r, _, _ in pipeline_steps(ctx, kind)}.values())
            found: list[Resource] = ctx.memo[key]
            return found

        return judged

    table: dict[str, Subjects] = {}
    for name in (
        "k8s-privileged", "k8s-root", "k8s-writable-rootfs", "k8s-limits", "k8s-host-path",
        "k8s-sa-token", "k8s-network-policy", "k8s-no-auth", "k8s-ray-exposed",
        "k8s-management-api-exposed", "k8s-trust-remote-code", "k8s-llm-no-api-key",
        "k8s-mutable-image",
    ):  # fmt: skip
        table[name] = model_servers
    for name in (
        "s3-versioning", "s3-object-lock", "s3-kms-encryption", "s3-public-access-block",
        "s3-tls-only", "bucket-shared",
    ):  # fmt: skip
        table[name] = model_buckets
    for name in ("gcs-uniform-access", "gcs-versioning", "gcs-retention"):
        table[name] = gcs_model_buckets
    for name in ("training-network-isolation", "training-inter-container-encryption",
                 "training-vpc", "training-kms"):  # fmt: skip
        table[name] = pipelines("Training")
    for name in ("processing-network-isolation", "processing-vpc", "processing-kms"):
        table[name] = pipelines("Processing")
    table["kubeflow-exposed"] = kubeflow_services
    table["kms-open-policy"] = ml_keys
    table["azure-acr-content-trust"] = dct_registries
    table["aws-kms-rotation"] = aws_rotation_keys
    table["azure-key-rotation"] = azure_rotation_keys
    table["gcp-kms-rotation"] = gcp_rotation_keys
    return table
