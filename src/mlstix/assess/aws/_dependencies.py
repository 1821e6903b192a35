"""What the SageMaker resources depend on: S3 buckets, KMS keys, ECR repositories, IAM roles.

Each is read only when a SageMaker resource references it (an ``s3://`` URI, a ``KmsKeyId``, an
ECR image URI, a role ARN), plus buckets whose names say they hold models. Shapes follow the
CloudFormation resources the IaC rules read: ``AWS::S3::Bucket``
(``PublicAccessBlockConfiguration``,
``BucketEncryption``, ``VersioningConfiguration``, ``ObjectLockEnabled``, ``LoggingConfiguration``)
with its policy as an ``AWS::S3::BucketPolicy``; ``AWS::KMS::Key`` (``KeyPolicy``,
``EnableKeyRotation``); ``AWS::ECR::Repository`` and ``AWS::ECR::RegistryScanningConfiguration``
(the ECR API's camelCase keys in PascalCase); ``AWS::IAM::Role`` (``Policies`` inline,
``AttachedPolicies`` with their default versions' documents). IAM users and groups are read
whole, not by reference (:mod:`._identities`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from mlstix.assess.aws._client import AwsAccess

__all__ = [
    "IMAGE",
    "account_public_access_block",
    "collect_bucket",
    "collect_ecr_registry",
    "collect_ecr_repository",
    "collect_key",
    "collect_role",
    "managed_document",
]

IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@\s]+)")


def _pascal(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {(k[:1].upper() + k[1:]): _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value


def _add(
    access: AwsAccess, rtype: str, name: str, arn: str, region: str, attrs: Any, scope: str = ""
) -> None:
    access.add_resource(rtype, name, arn, region, attrs, scope)


def account_public_access_block(access: AwsAccess, region: str) -> None:
    """The account-level S3 Block Public Access settings (s3control), on the account resource."""
    attrs: dict[str, Any] = {"AccountId": access.account}
    status, got = access.call_ex(
        "s3control",
        region,
        "GetPublicAccessBlock",
        absent=("NoSuchPublicAccessBlockConfiguration",),
        AccountId=access.account,
    )
    attrs["PublicAccessBlockConfiguration"] = (
        got.get("PublicAccessBlockConfiguration") if got else None
    )
    attrs["PublicAccessBlockKnown"] = status != "failed"
    _add(access, "MLSTIX::AWS::Account", access.account, f"aws://{access.account}", "", attrs)


def collect_bucket(access: AwsAccess, name: str, default_region: str) -> None:
    loc = access.call(
        "s3", default_region, "GetBucketLocation", absent=("NoSuchBucket",), Bucket=name
    )
    if loc is None:
        return
    region = loc.get("LocationConstraint") or "us-east-1"
    if region == "EU":
        region = "eu-west-1"
    attrs: dict[str, Any] = {"BucketName": name}
    pab = access.call(
        "s3",
        region,
        "GetPublicAccessBlock",
        absent=("NoSuchPublicAccessBlockConfiguration",),
        Bucket=name,
    )
    if pab is not None:
        attrs["PublicAccessBlockConfiguration"] = pab.get("PublicAccessBlockConfiguration")
    enc = access.call(
        "s3",
        region,
        "GetBucketEncryption",
        absent=("ServerSideEncryptionConfigurationNotFoundError",),
        Bucket=name,
    )
    if enc is not None:
        # the API's ApplyServerSideEncryptionByDefault is CloudFormation's
        # ServerSideEncryptionByDefault
        rules = [
            {
                (
                    "ServerSideEncryptionByDefault"
                    if k == "ApplyServerSideEncryptionByDefault"
                    else k
                ): v
                for k, v in rule.items()
            }
            for rule in (enc.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
            if isinstance(rule, Mapping)
        ]
        attrs["BucketEncryption"] = {"ServerSideEncryptionConfiguration": rules}
    ver = access.call("s3", region, "GetBucketVersioning", Bucket=name)
    if ver is not None:
        # no Status: versioning was never enabled
        attrs["VersioningConfiguration"] = {"Status": ver.get("Status")}
    lock = access.call(
        "s3",
        region,
        "GetObjectLockConfiguration",
        absent=("ObjectLockConfigurationNotFoundError",),
        Bucket=name,
    )
    attrs["ObjectLockEnabled"] = bool(
        lock and (lock.get("ObjectLockConfiguration") or {}).get("ObjectLockEnabled") == "Enabled"
    )
    if lock:
        attrs["ObjectLockConfiguration"] = lock.get("ObjectLockConfiguration")
    logging = access.call("s3", region, "GetBucketLogging", Bucket=name)
    if logging is not None and logging.get("LoggingEnabled"):
        enabled = logging["LoggingEnabled"]
        attrs["LoggingConfiguration"] = {
            "DestinationBucketName": enabled.get("TargetBucket"),
            "LogFilePrefix": enabled.get("TargetPrefix"),
        }
    tags = access.call("s3", region, "GetBucketTagging", absent=("NoSuchTagSet",), Bucket=name)
    if tags is not None:
        attrs["Tags"] = tags.get("TagSet", [])
    arn = f"arn:{access.partition}:s3:::{name}"
    _add(access, "AWS::S3::Bucket", name, arn, region, attrs)
    policy = access.call(
        "s3", region, "GetBucketPolicy", absent=("NoSuchBucketPolicy",), Bucket=name
    )
    if policy is not None and policy.get("Policy"):
        try:
            doc: Any = json.loads(policy["Policy"])
        except ValueError:
            doc = policy["Policy"]
        _add(
            access,
            "AWS::S3::BucketPolicy",
            name,
            f"{arn}#policy",
            region,
            {"Bucket": name, "PolicyDocument": doc},
        )


def collect_key(access: AwsAccess, key: str, region: str, seen: set[str]) -> None:
    """A KMS key named by id, ARN, alias name or alias ARN; AWS-managed keys are skipped, and a
    key met under two names is read once."""
    if key.startswith("arn:") and key.count(":") >= 5:
        region = key.split(":")[3] or region
    d = access.call("kms", region, "DescribeKey", absent=("NotFoundException",), KeyId=key)
    if d is None:
        return
    meta = d.get("KeyMetadata") or {}
    if meta.get("KeyManager") != "CUSTOMER":
        return
    key_id = meta["KeyId"]
    with access.lock:
        if meta["Arn"] in seen:
            return
        seen.add(meta["Arn"])
    attrs: dict[str, Any] = {
        "KeyId": key_id,
        "Description": meta.get("Description", ""),
        "KeySpec": meta.get("KeySpec"),
        "KeyUsage": meta.get("KeyUsage"),
        "Enabled": meta.get("Enabled"),
        "KeyState": meta.get("KeyState"),
        "Origin": meta.get("Origin"),  # EXTERNAL, AWS_CLOUDHSM, EXTERNAL_KEY_STORE: no rotation
    }
    policy = access.call("kms", region, "GetKeyPolicy", KeyId=key_id, PolicyName="default")
    if policy is not None and policy.get("Policy"):
        try:
            attrs["KeyPolicy"] = json.loads(policy["Policy"])
        except ValueError:
            attrs["KeyPolicy"] = policy["Policy"]
    rotation = access.call(
        "kms",
        region,
        "GetKeyRotationStatus",
        absent=("UnsupportedOperationException",),
        KeyId=key_id,
    )
    if rotation is not None:
        attrs["EnableKeyRotation"] = bool(rotation.get("KeyRotationEnabled"))
        if rotation.get("RotationPeriodInDays") is not None:  # answered when rotation is on
            attrs["RotationPeriodInDays"] = rotation["RotationPeriodInDays"]
    _add(access, "AWS::KMS::Key", key_id, meta["Arn"], region, attrs)


def collect_ecr_repository(access: AwsAccess, region: str, names: Iterable[str]) -> None:
    scope = f"live:aws:{access.account}:{region}"
    for name in sorted(set(names)):
        d = access.call(
            "ecr",
            region,
            "DescribeRepositories",
            absent=("RepositoryNotFoundException",),
            repositoryNames=[name],
        )
        for repo in (d or {}).get("repositories") or []:
            attrs = _pascal(dict(repo))
            _add(
                access,
                "AWS::ECR::Repository",
                repo["repositoryName"],
                repo["repositoryArn"],
                region,
                attrs,
                scope,
            )


def collect_ecr_registry(access: AwsAccess, region: str) -> None:
    d = access.call("ecr", region, "GetRegistryScanningConfiguration")
    if d is None:
        return
    attrs = _pascal(d.get("scanningConfiguration") or {})
    registry = str(d.get("registryId") or access.account)
    _add(
        access,
        "AWS::ECR::RegistryScanningConfiguration",
        registry,
        f"arn:{access.partition}:ecr:{region}:{registry}:registry",
        region,
        attrs,
        f"live:aws:{access.account}:{region}",
    )


def collect_role(access: AwsAccess, arn: str, cache: dict[str, Any]) -> None:
    name = arn.rsplit("/", 1)[-1]
    d = access.call("iam", access.home_region, "GetRole", absent=("NoSuchEntity",), RoleName=name)
    if d is None:
        return
    role = d.get("Role") or {}
    inline = []
    for pname in access.pages(
        "iam", access.home_region, "ListRolePolicies", "PolicyNames", RoleName=name
    ):
        p = access.call("iam", access.home_region, "GetRolePolicy", RoleName=name, PolicyName=pname)
        if p is not None:
            inline.append({"PolicyName": pname, "PolicyDocument": p.get("PolicyDocument")})
    attached = []
    for ap in access.pages(
        "iam", access.home_region, "ListAttachedRolePolicies", "AttachedPolicies", RoleName=name
    ):
        parn = ap["PolicyArn"]
        if parn not in cache:
            cache[parn] = managed_document(access, parn)
        attached.append(
            {"PolicyArn": parn, "PolicyName": ap.get("PolicyName"), "PolicyDocument": cache[parn]}
        )
    attrs = {
        "RoleName": role.get("RoleName", name),
        "Path": role.get("Path"),
        "AssumeRolePolicyDocument": role.get("AssumeRolePolicyDocument"),
        "Policies": inline,
        "ManagedPolicyArns": [a["PolicyArn"] for a in attached],
        "AttachedPolicies": attached,
        "PermissionsBoundary": role.get("PermissionsBoundary"),
    }
    _add(access, "AWS::IAM::Role", attrs["RoleName"], role.get("Arn", arn), "", attrs)


def managed_document(access: AwsAccess, arn: str) -> Any:
    """The default version's document of a managed policy (None: it does not exist)."""
    p = access.call("iam", access.home_region, "GetPolicy", absent=("NoSuchEntity",), PolicyArn=arn)
    if p is None:
        return None
    version = (p.get("Policy") or {}).get("DefaultVersionId")
    v = access.call("iam", access.home_region, "GetPolicyVersion", PolicyArn=arn, VersionId=version)
    return ((v or {}).get("PolicyVersion") or {}).get("Document")
