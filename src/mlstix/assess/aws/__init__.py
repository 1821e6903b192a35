"""``mlstix assess aws``: read an AWS account's ML estate into resources the rules judge.

:func:`collect_aws` resolves credentials (boto3's default chain), learns the account, then reads
each region's SageMaker resources, trails, detectors and ECR registry settings in a bounded
thread pool, and after them what those resources reference (buckets, keys, repositories, roles).
Nothing is written to the account: every client refuses non-read operations.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mlstix.assess._artifacts import Artifact
from mlstix.assess._inventory import Inventory
from mlstix.assess._pool import run as _run
from mlstix.assess.aws._artifacts import model_artifacts
from mlstix.assess.aws._audit import collect_guardduty, collect_region, collect_trails
from mlstix.assess.aws._client import (
    REGION,
    AwsAccess,
    CredentialsError,
    ReadOnlyViolation,
    connect,
)
from mlstix.assess.aws._dependencies import (
    IMAGE,
    account_public_access_block,
    collect_bucket,
    collect_ecr_registry,
    collect_ecr_repository,
    collect_key,
    collect_role,
)
from mlstix.assess.aws._identities import collect_identities
from mlstix.assess.aws._sagemaker import collect_sagemaker, describe_package
from mlstix.errors import UsageError

__all__ = ["AwsOptions", "CredentialsError", "ReadOnlyViolation", "collect_aws"]

_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(/|$)")
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+$")
_REGION = REGION


@dataclass(frozen=True)
class AwsOptions:
    profile: str | None = None
    regions: tuple[str, ...] = ()
    all_regions: bool = False
    jobs: int = 8
    session: Any = None  # a boto3.Session to use instead of a new one (tests hook its events)


def collect_aws(options: AwsOptions) -> tuple[Inventory, list[Artifact]]:
    """Read the account; raise :class:`CredentialsError` when no credentials work.

    Also returns the model artifacts behind the models (fetched only if the caller asks)."""
    inventory = Inventory(cloud="aws", target="")
    malformed = [r for r in options.regions if not _REGION.fullmatch(r)]
    if malformed:  # said before any call, not as an unreachable endpoint
        raise UsageError(
            f"not a SageMaker region: {', '.join(malformed)}",
            hint="regions look like us-east-1; --all-regions reads every enabled region",
        )
    env = _env_region()
    if env is not None and not options.regions and not _REGION.fullmatch(env[1]):
        name, value = env
        raise UsageError(  # said before any call: boto3 would fail on it, or send it to AWS
            f"{name} is set but empty" if not value else f"{name} is {value!r}, not a region name",
            hint="regions look like us-east-1: fix or unset it, or pass --region",
        )
    access, default_region = connect(
        inventory,
        profile=options.profile,
        jobs=options.jobs,
        session=options.session,
        region=options.regions[0] if options.regions else env[1] if env else None,
    )
    regions = _regions(access, options, default_region)
    inventory.target = access.account
    inventory.regions = tuple(regions)
    inventory.collected_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    inventory.note(f"credentials from {access.credential_source} as {access.principal}")
    lock = threading.Lock()
    trails: set[str] = set()
    tasks: list[Callable[[], None]] = []
    for region in regions:
        tasks += [
            _bind(collect_region, access, region),
            _bind(collect_sagemaker, access, region),
            _bind(collect_trails, access, region, trails, lock),
            _bind(collect_guardduty, access, region),
            _bind(collect_ecr_registry, access, region),
        ]
    _run(tasks, options.jobs)
    _run(_dependencies(access, regions[0]), options.jobs)
    return inventory, model_artifacts(access, inventory)


def _env_region() -> tuple[str, str] | None:
    """The default region the environment sets: ``AWS_REGION`` first (as the AWS CLI v2 and the
    other SDKs read it; botocore reads only ``AWS_DEFAULT_REGION``), then ``AWS_DEFAULT_REGION``.
    A variable set to an empty string counts as set."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if name in os.environ:
            return name, os.environ[name]
    return None


def _bind(fn: Callable[..., None], *args: Any) -> Callable[[], None]:
    return lambda: fn(*args)


def _regions(access: AwsAccess, options: AwsOptions, default: str | None) -> list[str]:
    known = set(access.session.get_available_regions("sagemaker", access.partition))
    if options.all_regions:
        d = access.call("ec2", default or access.home_region, "DescribeRegions")
        if d is None:
            access.inventory.note("ec2:DescribeRegions failed; assessing every SageMaker region")
            return sorted(known)
        enabled = sorted(str(r["RegionName"]) for r in d.get("Regions") or [])
        return [r for r in enabled if r in known] or enabled
    regions = list(dict.fromkeys(options.regions)) or ([default] if default else [])
    if not regions:
        raise UsageError(
            "no AWS region: pass --region (repeatable) or --all-regions, or set AWS_REGION"
        )
    bad = [r for r in regions if not _REGION.fullmatch(r) or (known and r not in known)]
    if bad:
        raise UsageError(
            f"not a SageMaker region: {', '.join(bad)}",
            hint="regions look like us-east-1; --all-regions reads every enabled region",
        )
    return regions


def _strings(value: Any, key: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    if depth > 40:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, str(k), depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key, depth + 1)
    elif isinstance(value, str):
        yield key, value


def _dependencies(access: AwsAccess, first_region: str) -> list[Callable[[], None]]:
    """Tasks that read what the SageMaker resources reference, and ML-named buckets."""
    from mlstix.scan.rules.iac.aws import ML_NAME

    buckets: set[str] = set()
    keys: dict[str, str] = {}
    repos: dict[str, set[str]] = {}
    roles: set[str] = set()
    packages: set[tuple[str, str]] = set()
    have_packages = set()
    for r in list(access.inventory.resources):
        if r.type == "AWS::SageMaker::ModelPackage":
            have_packages.add(r.file)
        if not r.type.startswith("AWS::SageMaker::"):
            continue
        region = str(r.extra.get("region", first_region))
        for key, text in _strings(dict(r.attributes)):
            if m := _S3_URI.match(text):
                buckets.add(m.group(1))
            elif "kms" in key.lower() and key.lower().endswith(("keyid", "key")) and text:
                keys.setdefault(text, region)
            elif (m := IMAGE.match(text)) and m.group(1) == access.account:
                repos.setdefault(m.group(2), set()).add(m.group(3))
            elif (m := _ROLE.match(text)) and key.endswith(("RoleArn", "ExecutionRole")):
                if m.group(1) == access.account:
                    roles.add(text)
                else:
                    access.inventory.note(f"role {text} is in another account; not read")
            elif key == "ModelPackageName" and text.startswith("arn:"):
                packages.add((text, region))
    errors_before = len(access.inventory.errors)
    owned = {
        str(b.get("Name", "")) for b in access.pages("s3", first_region, "ListBuckets", "Buckets")
    }
    if len(access.inventory.errors) == errors_before:  # the listing worked: judge only our own
        for name in sorted(buckets - owned):
            access.inventory.note(f"bucket {name} is referenced but not in this account; not read")
        buckets = (buckets & owned) | {b for b in owned if ML_NAME.search(b)}
    for key_ref in sorted(keys):
        parts = key_ref.split(":")
        if key_ref.startswith("arn:") and len(parts) > 4 and parts[4] not in ("", access.account):
            access.inventory.note(f"KMS key {key_ref} is in another account; not read")
            del keys[key_ref]
    cache: dict[str, Any] = {}
    tasks: list[Callable[[], None]] = [_bind(account_public_access_block, access, first_region)]
    tasks += [_bind(collect_bucket, access, b, first_region) for b in sorted(buckets)]
    seen_keys: set[str] = set()
    tasks += [_bind(collect_key, access, k, reg, seen_keys) for k, reg in sorted(keys.items())]
    tasks += [_bind(collect_ecr_repository, access, reg, names) for reg, names in repos.items()]
    tasks += [_bind(collect_role, access, arn, cache) for arn in sorted(roles)]
    tasks.append(_bind(collect_identities, access, cache))  # users and groups
    tasks += [
        _bind(describe_package, access, reg, arn)
        for arn, reg in sorted(packages)
        if arn not in have_packages
    ]
    return tasks
