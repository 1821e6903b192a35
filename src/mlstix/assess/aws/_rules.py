"""Logic of the AWS live-only rules (metadata in ``assess/rules/aws.yaml``); the CloudTrail and
GuardDuty ones are in :mod:`._trail_rules`.

- ``endpoint-unapproved-package``: an endpoint serving a model package whose
  ``ModelApprovalStatus`` is not ``Approved``.
- ``registry-shared``: a model package group policy that lets principals outside the account
  write (anything but Describe/List/Get...), or read without an organisation condition.

Lifecycle configurations that run fetched code (MLSTIX-AWS-LC-001), endpoint data capture
(MLSTIX-AWS-DC-001/002), processing jobs (MLSTIX-AWS-PRC-001/002/003, judged as Processing
steps), model bucket policies and ML keys' key policies (MLSTIX-AWS-S3L-001, MLSTIX-AWS-KMS-001)
are IaC rules (:mod:`mlstix.scan.rules.iac.aws_lifecycle`, ``aws_capture``, ``aws_processing``,
``aws_sharing``): the live resource is the template's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac import Context, Hit, RuleRegistry

__all__ = ["register"]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _by_name(ctx: Context, rtype: str) -> dict[tuple[str, str], Resource]:
    return {(str(r.extra.get("region")), r.name): r for r in ctx.of_type("cloudformation", rtype)}


def _containers(model: Resource) -> list[Mapping[str, Any]]:
    out = [model.attributes.get("PrimaryContainer")]
    out += _as_list(model.attributes.get("Containers"))
    return [c for c in out if isinstance(c, Mapping)]


def _unapproved(ctx: Context) -> Iterator[Hit]:
    configs = _by_name(ctx, "AWS::SageMaker::EndpointConfig")
    models = _by_name(ctx, "AWS::SageMaker::Model")
    packages = {r.file: r for r in ctx.of_type("cloudformation", "AWS::SageMaker::ModelPackage")}
    for ep in ctx.of_type("cloudformation", "AWS::SageMaker::Endpoint"):
        region = str(ep.extra.get("region"))
        config = configs.get((region, str(ep.attributes.get("EndpointConfigName"))))
        if config is None:
            continue
        for variant in _as_list(config.attributes.get("ProductionVariants")):
            model = models.get((region, str((variant or {}).get("ModelName"))))
            if model is None:
                continue
            for c in _containers(model):
                pkg = packages.get(str(c.get("ModelPackageName")))
                status = pkg.attributes.get("ModelApprovalStatus") if pkg else None
                if pkg is not None and status != "Approved":
                    yield Hit(
                        ep,
                        f"serves model {model.name} from model package {pkg.name}, whose "
                        f"ModelApprovalStatus is {status}",
                        {
                            "attribute": "ModelApprovalStatus",
                            "value": status,
                            "model_package": pkg.file,
                        },
                    )


def _outside(principal: Any, account: str) -> list[str]:
    out: list[str] = []
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        for p in _as_list(principal.get("AWS")):
            text = str(p)
            other = text.isdigit() and text != account
            foreign_arn = text.startswith("arn:") and text.split(":")[4:5] != [account]
            if text == "*" or other or foreign_arn:
                out.append(text)
    return out


_READ_VERBS = ("Describe", "List", "Get", "BatchDescribe", "BatchGet", "Search")


def _writes(actions: Any) -> list[str]:
    """The actions of a statement that are not reads (``sagemaker:*`` and ``*`` included)."""
    out = []
    for action in _as_list(actions):
        verb = str(action).split(":", 1)[-1]
        if not verb.startswith(_READ_VERBS):
            out.append(str(action))
    return out


_ORG_KEYS = ("aws:principalorgid", "aws:principalorgpaths")


def _org_limited(condition: Any) -> bool:
    """The condition admits only principals of an AWS Organization."""
    if not isinstance(condition, Mapping):
        return False
    return any(
        isinstance(keys, Mapping) and any(str(k).lower() in _ORG_KEYS for k in keys)
        for keys in condition.values()
    )


def _registry_shared(ctx: Context) -> Iterator[Hit]:
    """A model package group policy that lets principals outside the account change the
    registry, or read it without an ``aws:PrincipalOrgID``/``aws:PrincipalOrgPaths`` condition
    (the control allows sharing inside the organisation only; which accounts belong to it the
    SageMaker APIs do not say)."""
    for g in ctx.of_type("cloudformation", "AWS::SageMaker::ModelPackageGroup"):
        account = str(g.extra.get("account", ""))
        doc = g.attributes.get("ModelPackageGroupPolicy")
        found: set[str] = set()
        for st in _as_list(doc.get("Statement") if isinstance(doc, Mapping) else None):
            if not isinstance(st, Mapping) or str(st.get("Effect", "")).lower() != "allow":
                continue
            writes = _writes(st.get("Action"))
            for principal in _outside(st.get("Principal"), account):
                if writes:
                    found.add(f"{principal} to {', '.join(writes)}")
                elif not _org_limited(st.get("Condition")):
                    found.add(f"{principal} (read, no aws:PrincipalOrgID condition)")
        if found:
            yield Hit(
                g,
                f"the model package group policy allows {'; '.join(sorted(found))}",
                {"attribute": "ModelPackageGroupPolicy", "value": sorted(found)},
            )


def register(registry: RuleRegistry) -> None:
    from mlstix.assess.aws import _trail_rules

    _trail_rules.register(registry)
    registry.logic_function("endpoint-unapproved-package")(_unapproved)
    registry.logic_function("registry-shared")(_registry_shared)
