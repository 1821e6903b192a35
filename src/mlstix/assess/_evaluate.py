"""Judge an inventory: the IaC rules of its cloud, then the live-only rules, as one report.

Live resources are stored as the APIs describe them. Before the rules run, a few are given the
view the IaC rules expect (:func:`_views`): a training (processing) job is read as the Training
(Processing) step of a pipeline (the step's arguments are the CreateTrainingJob /
CreateProcessingJob request, which the Describe call echoes), an IAM role's, user's or group's
attached managed policies join its inline ones, and a bucket's public access block becomes the
effective one (bucket settings OR account settings; S3 User Guide, "Blocking public access to
your Amazon S3 storage"), and ECR repositories and registry scanning configurations share a
scope per region (a registry's scanning rules are regional). Findings are then relocated to the
real resource: ``location.path`` is its ARN / resource id, ``location.resource`` its type and
name, and the evidence names its account and region.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from mlstix.assess._inventory import Inventory
from mlstix.findings.model import Finding, Location, Report, ScannedFile
from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.iac.resource import Resource

__all__ = ["evaluate_inventory"]

_PAB = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
# jobs judged as the pipeline step their Describe response echoes the Create request of
_AS_STEP = {
    "AWS::SageMaker::TrainingJob": "Training",
    "AWS::SageMaker::ProcessingJob": "Processing",
}
# settings that hold per region, judged against resources of the same region only
_REGIONAL = frozenset({"AWS::ECR::Repository", "AWS::ECR::RegistryScanningConfiguration"})


def _view(r: Resource, rtype: str, attributes: Mapping[str, Any], address: str) -> Resource:
    extra = dict(r.extra)
    extra.setdefault("address", address)
    return dataclasses.replace(r, type=rtype, attributes=attributes, extra=extra)


def _effective_pab(bucket: Mapping[str, Any], account: Mapping[str, Any] | None) -> Any:
    own = bucket.get("PublicAccessBlockConfiguration")
    own = own if isinstance(own, Mapping) else {}
    if account is None or not account.get("PublicAccessBlockKnown", True):
        # account settings unknown: only a bucket that blocks everything itself is known
        return dict.fromkeys(_PAB, True) if own and all(own.get(k) for k in _PAB) else None
    acc = account.get("PublicAccessBlockConfiguration")
    acc = acc if isinstance(acc, Mapping) else {}
    return {k: bool(own.get(k)) or bool(acc.get(k)) for k in _PAB}


def _views(resources: Iterable[Resource]) -> list[Resource]:
    resources = list(resources)
    accounts = {
        r.extra.get("account"): r.attributes for r in resources if r.type == "MLSTIX::AWS::Account"
    }
    out: list[Resource] = []
    for r in resources:
        if r.provider == "gcp":
            from mlstix.assess.gcp import terraform_view

            out.append(terraform_view(r) or r)
        elif r.provider != "aws":
            out.append(r)
        elif r.type in _AS_STEP:
            step = {"Name": r.name, "Type": _AS_STEP[r.type], "Arguments": dict(r.attributes)}
            body = {"Version": "2020-12-01", "Steps": [step]}
            out.append(
                _view(
                    r,
                    "AWS::SageMaker::Pipeline",
                    {"PipelineDefinition": {"PipelineDefinitionBody": body}},
                    f"{r.type} {r.name}",
                )
            )
        elif r.type in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            attrs = dict(r.attributes)
            attached = [
                {"PolicyName": a.get("PolicyArn"), "PolicyDocument": a.get("PolicyDocument")}
                for a in attrs.get("AttachedPolicies") or []
                if isinstance(a, Mapping)
            ]
            attrs["Policies"] = list(attrs.get("Policies") or []) + attached
            out.append(dataclasses.replace(r, attributes=attrs))
        elif r.type in _REGIONAL:
            # an ECR registry scanning configuration covers the repositories of its own region
            region = r.extra.get("region", "")
            out.append(dataclasses.replace(r, scope=f"{r.scope}/{region}"))
        elif r.type == "AWS::S3::Bucket":
            attrs = dict(r.attributes)
            attrs["BucketPublicAccessBlockConfiguration"] = attrs.get(
                "PublicAccessBlockConfiguration"
            )
            attrs["PublicAccessBlockConfiguration"] = _effective_pab(
                attrs, accounts.get(r.extra.get("account"))
            )
            out.append(dataclasses.replace(r, attributes=attrs))
        else:
            out.append(r)
    return out


def _relocate(finding: Finding, by_location: Mapping[tuple[str, str], Resource]) -> Finding:
    loc = finding.location
    r = by_location.get((loc.path, loc.resource or ""))
    if r is None:
        return finding
    shown = str(r.extra.get("address") or r.address)
    message = finding.message
    if message.startswith(f"{r.address}: "):
        message = message[len(r.address) + 2 :]
    account, region = r.extra.get("account", ""), r.extra.get("region", "")
    where = ", ".join(x for x in (f"account {account}" if account else "", region) if x)
    evidence = dict(finding.evidence)
    evidence.setdefault("account", account)
    if region:
        evidence.setdefault("region", region)
    return dataclasses.replace(
        finding,
        message=f"{shown}{f' ({where})' if where else ''}: {message}",
        location=Location(path=r.file, resource=shown),
        evidence=evidence,
    )


def evaluate_inventory(
    inventory: Inventory,
    kb: KnowledgeBase | None,
    *,
    extra_findings: Iterable[Finding] = (),
    extra_scanned: Iterable[ScannedFile] = (),
) -> Report:
    """The report of one assessment: every finding on its real resource, the resources read
    (``scanned``, kind = resource type) and the errors met while reading."""
    from mlstix.assess._rules import live_registry
    from mlstix.scan.rules.iac import default_registry, evaluate_isolated

    views = _views(inventory.resources)
    by_location = {(r.file, r.address): r for r in views}
    iac = default_registry()
    iac_rules = [r for r in iac if r.cloud == inventory.cloud]
    judged = evaluate_isolated(iac, iac_rules, views, kb)
    live = live_registry()
    live_rules = [r for r in live if r.cloud == inventory.cloud]
    judged_live = evaluate_isolated(live, live_rules, views, kb)
    findings = [*judged.findings, *judged_live.findings]
    relocated = [_relocate(f, by_location) for f in findings]
    scanned = [
        ScannedFile(path=r.file, kind=r.type)
        for r in inventory.resources
        if not r.type.startswith("MLSTIX::")
    ]
    scanned += extra_scanned
    ran = [*judged.ran(iac_rules), *judged_live.ran(live_rules)]
    idle = [*judged.not_applicable(iac_rules), *judged_live.not_applicable(live_rules)]
    errors = [*inventory.errors, *judged.errors, *judged_live.errors]
    reported = [*relocated, *extra_findings]
    return Report.build(
        "assess", scanned, reported, errors, rules_run=ran, rules_not_applicable=idle
    )
