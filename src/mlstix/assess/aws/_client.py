# mypy: disable-error-code="import-untyped"
"""AWS sessions and clients for a read-only assessment, and what a failed call becomes.

Credentials come from boto3's default chain (environment, shared credentials and config files
with SSO and assume-role profiles, container and instance roles); mlstix never reads, prints or
stores them. Endpoint overrides follow boto3's own convention (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_<SERVICE>``), which is how the tests reach a local moto server.

Every client carries a ``before-call`` hook that refuses any operation whose name does not start
with ``List``, ``Describe`` or ``Get`` (a bug can never write to an account), retries in
botocore's adaptive mode (client-side rate limiting on throttling errors), and a connection pool
bounded by ``--jobs``. A denied call becomes an ``errors`` entry naming the operation and the IAM
permission it needs; the assessment goes on.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mlstix._timeouts import PROBE_ENV, probe_timeout, read_timeout
from mlstix.assess._inventory import Inventory, live_resource
from mlstix.errors import MlstixError, UsageError

__all__ = [
    "READ_PREFIXES",
    "REGION",
    "AwsAccess",
    "CredentialsError",
    "ReadOnlyViolation",
    "connect",
    "iam_action",
]

READ_PREFIXES = ("List", "Describe", "Get")

_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "UnauthorizedAccess",
        "Forbidden",
        "403",
    }
)
# a region name (us-east-1, us-gov-west-1, ap-southeast-5, eusc-de-east-1)
REGION = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d$")
_REGION_OFF = frozenset({"OptInRequired", "UnrecognizedClientException", "InvalidClientTokenId"})
_SERVICE_OFF = frozenset({"SubscriptionRequiredException"})
_BAD_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "AuthFailure",
    }
)

# API operation -> IAM action, where the action is not "<service prefix>:<operation>"
# (Service Authorization Reference: Amazon S3 actions).
_ACTIONS = {
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
}
_PREFIX = {"s3control": "s3"}


def iam_action(service: str, operation: str) -> str:
    """The IAM permission an API operation needs."""
    return _ACTIONS.get((service, operation), f"{_PREFIX.get(service, service)}:{operation}")


class CredentialsError(MlstixError):
    """No usable AWS credentials."""

    hint = "configure credentials for boto3 (aws configure, aws sso login, or --profile NAME)"


class ReadOnlyViolation(MlstixError):
    """A collector tried to call an operation that is not a read."""


def _read_only_guard(model: Any, **_: Any) -> None:
    name = str(getattr(model, "name", ""))
    if not name.startswith(READ_PREFIXES):
        raise ReadOnlyViolation(
            f"refused to call {model.service_model.service_name}:{name}: the assessment calls "
            "only List*, Describe* and Get* operations"
        )


def _max_attempts() -> int:
    """Attempts per call: the SDK's own ``AWS_MAX_ATTEMPTS`` when set (as boto3 honours it),
    8 otherwise, so throttled accounts are retried with adaptive back-off."""
    import os

    raw = os.environ.get("AWS_MAX_ATTEMPTS", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 8


@dataclass
class AwsAccess:
    """One identity's view of AWS: clients per (service, region), bounded and read-only."""

    session: Any  # boto3.Session
    account: str
    partition: str
    principal: str
    credential_source: str
    inventory: Inventory
    jobs: int = 8
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    lock: threading.Lock = field(default_factory=threading.Lock)  # for collectors' shared state
    _regions_off: set[str] = field(default_factory=set)

    def client(self, service: str, region: str) -> Any:
        from botocore.config import Config

        key = (service, region)
        with self._lock:
            if key not in self._clients:
                config = Config(
                    # total_max_attempts counts the first attempt, as AWS_MAX_ATTEMPTS does
                    # (botocore's max_attempts key counts retries: one attempt more)
                    retries={"mode": "adaptive", "total_max_attempts": _max_attempts()},
                    max_pool_connections=max(self.jobs, 4),
                    connect_timeout=10,
                    read_timeout=read_timeout(),  # MLSTIX_READ_TIMEOUT, 60 s by default
                    user_agent_extra="mlstix-assess",
                )
                self._clients[key] = self.session.client(service, region_name=region, config=config)
            return self._clients[key]

    def add_resource(
        self, rtype: str, name: str, arn: str, region: str, attrs: Any, scope: str = ""
    ) -> None:
        """Record one resource read from AWS, in its CloudFormation shape, on its ARN."""
        self.inventory.add(
            live_resource(
                provider="aws",
                type=rtype,
                name=name,
                ident=arn,
                attributes=attrs,
                language="cloudformation",
                account=self.account,
                region=region,
                scope=scope,
            )
        )

    def region_off(self, region: str) -> bool:
        return region in self._regions_off

    @property
    def home_region(self) -> str:
        """The region of the partition's global services (IAM, S3 control)."""
        return {"aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}.get(
            self.partition, "us-east-1"
        )

    def call(
        self,
        service: str,
        region: str,
        operation: str,
        *,
        absent: tuple[str, ...] = (),
        **params: Any,
    ) -> dict[str, Any] | None:
        """Call one read operation; None when it failed (recorded) or answered ``absent``."""
        return self.call_ex(service, region, operation, absent=absent, **params)[1]

    def call_ex(
        self,
        service: str,
        region: str,
        operation: str,
        *,
        absent: tuple[str, ...] = (),
        **params: Any,
    ) -> tuple[str, dict[str, Any] | None]:
        """Like :meth:`call`, with the outcome: ``ok``, ``absent`` or ``failed``."""
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        if region in self._regions_off:
            return "failed", None
        client = self.client(service, region)
        method = getattr(client, _snake(operation))
        try:
            result: dict[str, Any] = method(**params)
            return "ok", result
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in absent:
                return "absent", None
            self._failed(service, region, operation, code, exc)
        except (BotoCoreError, ResponseParserError) as exc:
            self.inventory.error(
                self._where(service, region),
                f"{operation} failed: {_one_line(str(exc))}",
            )
        return "failed", None

    def pages(
        self,
        service: str,
        region: str,
        operation: str,
        key: str,
        *,
        limit: int = 10_000,
        **params: Any,
    ) -> Iterator[Any]:
        """Items under ``key`` of every page of a List operation, at most ``limit``."""
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        if region in self._regions_off:
            return
        client = self.client(service, region)
        seen = 0
        try:
            paginator = client.get_paginator(_snake(operation))
            for page in paginator.paginate(**params):
                for item in page.get(key) or []:
                    yield item
                    seen += 1
                    if seen >= limit:
                        return
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            self._failed(service, region, operation, code, exc)
        except (BotoCoreError, ResponseParserError) as exc:
            self.inventory.error(
                self._where(service, region), f"{operation} failed: {_one_line(str(exc))}"
            )

    def _where(self, service: str, region: str) -> str:
        return f"aws://{self.account}/{region}/{service}"

    def _failed(self, service: str, region: str, operation: str, code: str, exc: Any) -> None:
        message = _one_line(str(exc.response.get("Error", {}).get("Message", "")))
        if code in _DENIED:
            self.inventory.error(
                self._where(service, region),
                f"{operation} was denied ({code}): grant {iam_action(service, operation)} "
                "(docs/assess.md lists the read-only role)",
            )
        elif code in _REGION_OFF and region != "global":
            with self._lock:
                self._regions_off.add(region)
            self.inventory.note(f"region {region} is not enabled for this account ({code})")
        elif code in _SERVICE_OFF:
            self.inventory.note(f"{service} is not enabled in {region} ({code})")
        else:
            self.inventory.error(
                self._where(service, region), f"{operation} failed ({code}): {message}"
            )


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _snake(operation: str) -> str:
    from botocore import xform_name

    return str(xform_name(operation))


def _chain(botocore_session: Any) -> list[str]:
    resolver = botocore_session.get_component("credential_provider")
    return [str(p.METHOD) for p in getattr(resolver, "providers", []) if getattr(p, "METHOD", None)]


def _no_profile(profile: str | None, exc: Exception) -> CredentialsError:
    """The profile named by --profile, or else by AWS_PROFILE (botocore names it), is missing."""
    if profile is not None:
        return CredentialsError(f"no AWS profile named {profile!r}")
    named = getattr(exc, "kwargs", {}).get("profile")
    return CredentialsError(f"no AWS profile named {named!r} (the AWS_PROFILE variable)")


def connect(
    inventory: Inventory,
    *,
    profile: str | None,
    jobs: int,
    session: Any = None,
    region: str | None = None,
) -> tuple[AwsAccess, str | None]:
    """Resolve credentials through the default chain and learn the account with
    ``sts:GetCallerIdentity``. Returns the access and the session's default region.

    ``session`` (a ``boto3.Session``) is for callers that bring their own, such as tests that
    hook its events. ``region`` (checked by the caller) is used instead of the session's, which
    comes from ``AWS_DEFAULT_REGION`` or the profile's ``region`` and is checked here, before
    any call. Raises :class:`CredentialsError` (one line naming the chain tried).
    """
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ProfileNotFound,
        ReadTimeoutError,
    )
    from botocore.parsers import ResponseParserError

    if session is None:
        try:
            core = botocore.session.Session(profile=profile)
            session = boto3.Session(botocore_session=core)
        except ProfileNotFound as exc:
            raise _no_profile(profile, exc) from None
        except BotoCoreError as exc:  # a config file that is not INI, a bad setting
            raise CredentialsError(
                f"the AWS configuration could not be read: {_one_line(str(exc))}"
            ) from None
    core = session._session  # the botocore session boto3 wraps
    if region is None:
        region = session.region_name
        if region is not None and not REGION.fullmatch(region):
            where = f"profile {profile!r}" if profile else "the AWS config"
            raise UsageError(
                f"the region of {where} is {region!r}, not a region name",
                hint="regions look like us-east-1: fix the config, or pass --region",
            )
    core.register("before-call", _read_only_guard, unique_id="mlstix-read-only")
    core.register("before-call", lambda **_: inventory.count_call(), unique_id="mlstix-count")
    chain = ", ".join(_chain(core))
    try:
        creds = session.get_credentials()
    except ProfileNotFound as exc:
        raise _no_profile(profile, exc) from None
    except BotoCoreError as exc:
        raise CredentialsError(
            f"AWS credentials could not be loaded ({type(exc).__name__}: {_one_line(str(exc))}); "
            f"boto3 tried: {chain}"
        ) from None
    if creds is None:
        raise CredentialsError(f"no AWS credentials found; boto3 tried: {chain}")
    source = str(getattr(creds, "method", "unknown"))
    access = AwsAccess(session, "", "aws", "", source, inventory, jobs=jobs)
    # the first call says whether AWS can be reached at all: two attempts, not the eight with
    # back-off the collectors use against throttling, so an unreachable endpoint is an error
    # in seconds and is not blamed on the credentials; an endpoint that accepts the connection
    # but never answers is given MLSTIX_PROBE_TIMEOUT seconds per attempt
    wait = probe_timeout()
    probe = Config(
        retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=5, read_timeout=wait
    )
    try:
        sts = session.client("sts", region_name=region or "us-east-1", config=probe)
    except ValueError as exc:  # AWS_ENDPOINT_URL that is not a URL, a region that is no name
        raise MlstixError(
            f"cannot make an AWS client: {_one_line(str(exc))}",
            hint="check AWS_ENDPOINT_URL and the region if you set them",
        ) from None
    try:
        ident = sts.get_caller_identity()
    except ResponseParserError as exc:  # not an AWS endpoint (a proxy, a web server)
        raise MlstixError(
            f"{sts.meta.endpoint_url} did not answer as AWS STS does: {_one_line(str(exc))[:120]}",
            hint="check the network, or AWS_ENDPOINT_URL if you set it",
        ) from None
    except ReadTimeoutError as exc:
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or sts.meta.endpoint_url
        raise MlstixError(
            f"{url} accepted the connection but did not answer within {wait:g} s (tried twice)",
            hint=f"check the network, or AWS_ENDPOINT_URL if you set it; {PROBE_ENV} raises the "
            "wait",
        ) from None
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "the AWS endpoint")
        raise MlstixError(
            f"cannot reach {url}: {_one_line(str(exc))}",
            hint="check the network, or AWS_ENDPOINT_URL if you set it",
        ) from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        what = "expired" if "Expired" in code else "rejected"
        raise CredentialsError(
            f"AWS {what} the credentials from {source} ({code}); boto3 tried: {chain}"
        ) from None
    except BotoCoreError as exc:
        raise CredentialsError(
            f"could not verify the AWS credentials from {source}: {_one_line(str(exc))}"
        ) from None
    access.account = str(ident["Account"])
    access.principal = str(ident["Arn"])
    access.partition = access.principal.split(":")[1] if access.principal.count(":") > 2 else "aws"
    return access, region
