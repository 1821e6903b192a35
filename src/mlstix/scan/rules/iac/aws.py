"""Python rules for AWS storage: S3 buckets that hold models, and ECR scanning.

These need logic a row cannot hold: finding the buckets that hold models (referenced by a
SageMaker resource, or named/tagged for models), following Terraform's companion resources
(``aws_s3_bucket_versioning`` & co., which replaced the inline blocks in provider 4.0), reading
bucket policies, and registry-level ECR scanning configurations. IAM policies are in
:mod:`.aws_iam`, training jobs in :mod:`.aws_training`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import (
    as_list,
    statements,
)
from mlstix.scan.rules.iac._refs import iter_strings, refers_to
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC", "ML_NAME"]

ML_NAME = re.compile(
    r"(?i)(model|sagemaker|vertex|checkpoint|weights|mlflow|inference|training|feature-?store"
    r"|(^|[-_.])ml([-_.]|$)|(^|[-_.])ai([-_.]|$))"
)
_BUCKET = {"terraform": "aws_s3_bucket", "cloudformation": "AWS::S3::Bucket"}
_ML_PREFIX = {"terraform": "aws_sagemaker_", "cloudformation": "AWS::SageMaker::"}


def _tags_text(r: Resource) -> str:
    tags = r.attributes.get("tags") or r.attributes.get("Tags") or {}
    return " ".join(str(s) for s in iter_strings(tags))


def model_buckets(ctx: Context) -> list[Resource]:
    """Buckets that hold models: referenced by a SageMaker resource, or named/tagged so."""
    if "aws-model-buckets" not in ctx.memo:
        ctx.memo["aws-model-buckets"] = list(_model_buckets(ctx))
    found: list[Resource] = ctx.memo["aws-model-buckets"]
    return found


def _model_buckets(ctx: Context) -> Iterator[Resource]:
    for dialect, btype in _BUCKET.items():
        buckets = ctx.of_type(dialect, btype)
        if not buckets:
            continue
        ml: dict[str, list[Resource]] = {}
        for r in ctx.resources:
            if r.dialect == dialect and r.type.startswith(_ML_PREFIX[dialect]):
                ml.setdefault(r.scope, []).append(r)
        for b in buckets:
            label = " ".join(
                str(x)
                for x in (
                    b.name,
                    b.attributes.get("bucket"),
                    b.attributes.get("BucketName"),
                    _tags_text(b),
                )
                if x
            )
            if ML_NAME.search(label) or any(
                refers_to(r.attributes, b) for r in ml.get(b.scope, ())
            ):
                yield b


def _companions(ctx: Context, bucket: Resource, rtype: str) -> list[Resource]:
    return [
        r
        for r in ctx.in_scope(bucket.scope, "terraform", rtype)
        if refers_to(r.attributes.get("bucket"), bucket)
    ]


def _ok(value: Any, *good: Any) -> bool:
    """Unknown counts as fine: never report what cannot be shown."""
    return is_unknown(value) or norm(value) in [norm(g) for g in good]


def _s3_versioning(ctx: Context) -> Iterator[Hit]:
    for b in model_buckets(ctx):
        if b.dialect == "cloudformation":
            status = lookup(b.attributes, "VersioningConfiguration.Status")
            if not _ok(status, "Enabled"):
                yield Hit(
                    b,
                    f"VersioningConfiguration.Status is {status or 'not set'}",
                    {"attribute": "VersioningConfiguration.Status", "value": status},
                )
            continue
        if _ok(lookup(b.attributes, "versioning.enabled"), True):
            continue
        companions = _companions(ctx, b, "aws_s3_bucket_versioning")
        if any(
            _ok(lookup(c.attributes, "versioning_configuration.status"), "Enabled")
            for c in companions
        ):
            continue
        yield Hit(
            b,
            "no versioning (no aws_s3_bucket_versioning with status Enabled, "
            "no inline versioning.enabled)",
            {"attribute": "versioning", "value": None},
        )


def _s3_object_lock(ctx: Context) -> Iterator[Hit]:
    for b in model_buckets(ctx):
        if b.dialect == "cloudformation":
            value = b.attributes.get("ObjectLockEnabled")
            if not _ok(value, True):
                yield Hit(
                    b,
                    "ObjectLockEnabled is not true",
                    {"attribute": "ObjectLockEnabled", "value": value},
                )
            continue
        value = b.attributes.get("object_lock_enabled")
        if _ok(value, True) or _ok(
            lookup(b.attributes, "object_lock_configuration.object_lock_enabled"), "Enabled"
        ):
            continue
        yield Hit(
            b,
            "object_lock_enabled is not set (default false)"
            if value is None
            else f"object_lock_enabled is {value}",
            {"attribute": "object_lock_enabled", "value": value, "provider_default": value is None},
        )


def _kms_algorithms(rules: Any, path: str) -> list[Any]:
    return [lookup(r, path) for r in as_list(rules)]


def _s3_kms(ctx: Context) -> Iterator[Hit]:
    good = ("aws:kms", "aws:kms:dsse")
    for b in model_buckets(ctx):
        if b.dialect == "cloudformation":
            algos = _kms_algorithms(
                lookup(b.attributes, "BucketEncryption.ServerSideEncryptionConfiguration"),
                "ServerSideEncryptionByDefault.SSEAlgorithm",
            )
        else:
            algos = _kms_algorithms(
                lookup(b.attributes, "server_side_encryption_configuration.rule"),
                "apply_server_side_encryption_by_default.sse_algorithm",
            )
            for c in _companions(ctx, b, "aws_s3_bucket_server_side_encryption_configuration"):
                algos += _kms_algorithms(
                    c.attributes.get("rule"),
                    "apply_server_side_encryption_by_default.sse_algorithm",
                )
        if any(_ok(a, *good) for a in algos if a is not None):
            continue
        shown = [a for a in algos if a is not None] or ["AES256 (S3 default, SSE-S3)"]
        yield Hit(
            b,
            f"default encryption is {shown[0]}, not aws:kms",
            {"attribute": "sse_algorithm", "value": str(shown[0]), "provider_default": not algos},
        )


_PAB = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
_PAB_CFN = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")


def _s3_public_access(ctx: Context) -> Iterator[Hit]:
    # Since 2023-04 S3 turns on all four Block Public Access settings for new buckets; a bucket
    # with no configuration is therefore blocked. A configuration that is written replaces the
    # default, and its omitted flags are false.
    for b in model_buckets(ctx):
        if b.dialect == "cloudformation":
            config = b.attributes.get("PublicAccessBlockConfiguration")
            if config is None or is_unknown(config):
                continue
            off = [k for k in _PAB_CFN if not _ok(lookup(config, k), True)]
        else:
            configs = _companions(ctx, b, "aws_s3_bucket_public_access_block")
            if not configs:
                continue
            off = [k for k in _PAB if not any(_ok(c.attributes.get(k), True) for c in configs)]
        if off:
            yield Hit(
                b,
                f"public access block leaves {', '.join(off)} off",
                {"attribute": "public_access_block", "value": ", ".join(off)},
            )


def _denies_insecure_transport(stmts: list[Mapping[str, Any]]) -> bool:
    for st in stmts:
        if str(st.get("Effect", "")).lower() != "deny":
            continue
        cond = st.get("Condition") or {}
        if not isinstance(cond, Mapping):
            continue
        for test, body in cond.items():
            if not isinstance(body, Mapping):
                continue
            for key, values in body.items():
                k = str(key).lower()
                if (
                    k == "aws:securetransport"
                    and str(test).lower() == "bool"
                    and any(norm(v) is False for v in as_list(values))
                ):
                    return True
                if k == "s3:tlsversion" and str(test).lower().startswith("numericlessthan"):
                    return True
    return False


def _s3_tls_only(ctx: Context) -> Iterator[Hit]:
    for b in model_buckets(ctx):
        if b.dialect == "cloudformation":
            policies = [
                (p, p.attributes.get("PolicyDocument"))
                for p in ctx.in_scope(b.scope, "cloudformation", "AWS::S3::BucketPolicy")
                if refers_to(p.attributes.get("Bucket"), b)
            ]
        else:
            policies = [
                (p, p.attributes.get("policy")) for p in _companions(ctx, b, "aws_s3_bucket_policy")
            ]
            if b.attributes.get("policy") is not None:
                policies.append((b, b.attributes.get("policy")))
        unknown = False
        found = False
        for owner, doc in policies:
            stmts = statements(doc, ctx, owner)
            if stmts is None:
                unknown = True
            elif _denies_insecure_transport(stmts):
                found = True
        if found or unknown:
            continue
        yield Hit(
            b,
            "no bucket policy denies requests with aws:SecureTransport = false",
            {"attribute": "policy", "value": None},
        )


# Registry-level scanning (PutRegistryScanningConfiguration) scans a repository only through a
# rule whose frequency is SCAN_ON_PUSH or CONTINUOUS_SCAN and one of whose WILDCARD filters
# matches the repository name; without such a rule the frequency is MANUAL (CloudFormation
# AWS::ECR::RegistryScanningConfiguration ScanningRule reference).
_ECR_REGISTRY = {
    "terraform": (
        "aws_ecr_registry_scanning_configuration",
        "rule",
        "scan_frequency",
        "repository_filter",
        "filter",
        "name",
    ),
    "cloudformation": (
        "AWS::ECR::RegistryScanningConfiguration",
        "Rules",
        "ScanFrequency",
        "RepositoryFilters",
        "Filter",
        "RepositoryName",
    ),
}
_SCANNING = ("SCAN_ON_PUSH", "CONTINUOUS_SCAN")


def _registry_scans(ctx: Context, repo: Resource) -> bool:
    """A registry scanning configuration of the repository's scope scans it on push (or unknown)."""
    rtype, rules_key, freq_key, filters_key, filter_key, name_key = _ECR_REGISTRY[repo.dialect]
    name = repo.attributes.get(name_key)
    for config in ctx.in_scope(repo.scope, repo.dialect, rtype):
        rules = config.attributes.get(rules_key)
        if is_unknown(rules):
            return True
        for rule in as_list(rules):
            if not isinstance(rule, Mapping) or not _ok(rule.get(freq_key), *_SCANNING):
                continue
            filters = rule.get(filters_key)
            if is_unknown(filters):
                return True
            for f in as_list(filters):
                pattern = f.get(filter_key) if isinstance(f, Mapping) else None
                if (
                    not isinstance(name, str)
                    or is_unknown(name)
                    or is_unknown(pattern)
                    or (isinstance(pattern, str) and fnmatch.fnmatchcase(name, pattern))
                ):
                    return True
    return False


def _ecr_scan(ctx: Context) -> Iterator[Hit]:
    for dialect, rtype, path in (
        ("terraform", "aws_ecr_repository", "image_scanning_configuration.scan_on_push"),
        ("cloudformation", "AWS::ECR::Repository", "ImageScanningConfiguration.ScanOnPush"),
    ):
        for r in ctx.of_type(dialect, rtype):
            if _ok(lookup(r.attributes, path), True):
                continue
            if _registry_scans(ctx, r):
                continue
            yield Hit(
                r,
                f"{path} is not set (default false) and no registry scanning rule "
                "(SCAN_ON_PUSH or CONTINUOUS_SCAN) has a filter matching the repository",
                {"attribute": path, "value": False, "provider_default": True},
            )


LOGIC: dict[str, Logic] = {
    "s3-versioning": _s3_versioning,
    "s3-object-lock": _s3_object_lock,
    "s3-kms-encryption": _s3_kms,
    "s3-public-access-block": _s3_public_access,
    "s3-tls-only": _s3_tls_only,
    "ecr-scan-on-push": _ecr_scan,
}
