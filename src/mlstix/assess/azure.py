# mypy: disable-error-code="import-untyped"
"""``mlstix assess azure``: Azure Machine Learning workspaces and what they depend on, as ARM
returns them.

The Azure SDK's HTTP pipeline (``azure-core``: retries with the service's ``Retry-After``,
bearer-token challenge authentication of ``azure-mgmt-core``) with ``azure-identity``'s
``DefaultAzureCredential`` reads Azure Resource Manager REST APIs: ARM responses *are* ARM
resources (``id``, ``type``, ``location``, ``properties``, ``identity``), so the IaC ARM rules
judge them unchanged. Read, per subscription (or ``--resource-group``): workspaces
(``Microsoft.MachineLearningServices`` 2024-04-01) with their computes, online endpoints and
deployments, batch endpoints and diagnostic settings; registries; and the storage account,
key vault and container registry each workspace names, and the Key Vault key of its
customer-managed encryption (``Microsoft.KeyVault/vaults/keys``, with its ``rotationPolicy``).

Only ``GET`` is sent: a pipeline policy refuses anything else, and the ARM pipeline's automatic
resource-provider registration (a ``POST``) is left out. Plain ``http`` is accepted only for a
loopback endpoint (tests), so a token never crosses a network in clear.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from mlstix.assess._artifacts import Artifact
from mlstix.assess._azure_artifacts import azure_artifacts
from mlstix.assess._inventory import Inventory, live_resource
from mlstix.assess._names import check_azure
from mlstix.assess._pool import run as _run
from mlstix.errors import MlstixError

__all__ = ["API_VERSIONS", "AzureCredentialsError", "AzureOptions", "collect_azure", "permission"]

ARM = "https://management.azure.com"
API_VERSIONS = {
    "Microsoft.MachineLearningServices": "2024-04-01",
    "Microsoft.Storage": "2023-05-01",
    "Microsoft.KeyVault": "2023-07-01",
    "Microsoft.ContainerRegistry": "2023-07-01",
    "Microsoft.Insights": "2021-05-01-preview",
}
_ML = "Microsoft.MachineLearningServices"
_ID = re.compile(r"(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/[^/]+/[^/]+$")
_KEY_URI = re.compile(r"(?i)^https://[^/]+/keys/([A-Za-z0-9-]{1,127})(/|$)")


class AzureCredentialsError(MlstixError):
    """No usable Azure credentials, or the endpoint cannot be reached."""

    hint = "sign in with `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET"


@dataclass(frozen=True)
class AzureOptions:
    subscription: str
    resource_groups: tuple[str, ...] = ()
    jobs: int = 8
    endpoint: str = ARM
    credential: Any = None  # an azure.core TokenCredential; default DefaultAzureCredential


def permission(path: str) -> str:
    """The Azure RBAC action a GET of ``path`` needs, e.g.
    ``Microsoft.MachineLearningServices/workspaces/computes/read``."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    lower = [p.lower() for p in parts]
    if "providers" not in lower:
        return "Microsoft.Resources/subscriptions/resourceGroups/read"
    i = len(lower) - 1 - lower[::-1].index("providers")
    namespace, rest = parts[i + 1], parts[i + 2 :]
    types = rest[0::2]
    return "/".join([namespace, *types, "read"])


class _Failed(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


class _Arm:
    """GETs against ARM through the SDK pipeline; failures become inventory errors or notes."""

    def __init__(self, options: AzureOptions, inventory: Inventory) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import (
            HeadersPolicy,
            RequestIdPolicy,
            RetryPolicy,
            SansIOHTTPPolicy,
            UserAgentPolicy,
        )
        from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

        class ReadOnly(SansIOHTTPPolicy[Any, Any]):
            def on_request(self, request: Any) -> None:
                inventory.count_call()
                if request.http_request.method != "GET":
                    raise MlstixError(
                        f"refused to send {request.http_request.method}: the assessment only "
                        "reads (GET)"
                    )

        endpoint = options.endpoint.rstrip("/")
        url = urlparse(endpoint)
        self.plain_ok = url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost", "::1")
        if url.scheme != "https" and not self.plain_ok:
            raise MlstixError(f"the ARM endpoint must be https: {endpoint}")
        if not url.hostname:
            raise MlstixError(f"the ARM endpoint names no host: {endpoint}")
        self.endpoint = endpoint
        self.credential = options.credential or _default_credential()
        scope = f"{ARM if self.plain_ok else endpoint}/.default"
        self.inventory = inventory
        self.client: PipelineClient[Any, Any] = PipelineClient(
            endpoint,
            policies=[
                RequestIdPolicy(),
                HeadersPolicy(),
                UserAgentPolicy("mlstix-assess"),
                ReadOnly(),
                # throttling and 5xx are retried; a refused connection only once, so an
                # unreachable endpoint is said in about a second
                RetryPolicy(retry_total=6, retry_connect=1, retry_backoff_factor=0.5),
                ARMChallengeAuthenticationPolicy(self.credential, scope),
            ],
        )

    def get(self, path: str, api_version: str) -> Any:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            ServiceRequestError,
            ServiceResponseError,
        )
        from azure.core.rest import HttpRequest

        sep = "&" if "?" in path else "?"
        url = (
            path
            if path.startswith("http")
            else self.client.format_url(f"{path}{sep}api-version={api_version}")
        )
        request = HttpRequest("GET", url, headers={"Accept": "application/json"})
        try:
            response = self.client.send_request(request, enforce_https=not self.plain_ok)
        except ClientAuthenticationError as exc:
            raise AzureCredentialsError(_credential_message(self.credential, exc)) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise MlstixError(
                f"cannot reach Azure Resource Manager at {self.endpoint}: {type(exc).__name__}",
                hint="check the network, or --arm-endpoint",
            ) from None
        if response.status_code == 401:
            raise AzureCredentialsError("Azure Resource Manager rejected the token (401)")
        body = response.json() if response.text() else {}
        if response.status_code >= 400:
            error = (body or {}).get("error") or {}
            raise _Failed(
                response.status_code, str(error.get("code", "")), str(error.get("message", ""))
            )
        return body

    def pages(self, path: str, api_version: str) -> Iterator[dict[str, Any]]:
        next_url: str | None = path
        while next_url:
            body = self.get(next_url, api_version)
            yield from (v for v in body.get("value") or [] if isinstance(v, dict))
            next_url = body.get("nextLink")

    def guarded(self, path: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except _Failed as exc:
            where = f"azure:{path.split('?')[0]}"
            if exc.status == 403 or exc.code in (
                "AuthorizationFailed",
                "LinkedAuthorizationFailed",
            ):
                self.inventory.error(
                    where,
                    f"GET was denied ({exc.code or exc.status}): grant {permission(path)} "
                    "(the Reader role has it; docs/assess.md)",
                )
            elif exc.code in ("MissingSubscriptionRegistration", "SubscriptionNotRegistered"):
                self.inventory.note(f"{path}: resource provider not registered ({exc.code})")
            elif exc.status == 404 and exc.code in (
                "ResourceGroupNotFound",
                "SubscriptionNotFound",
            ):
                self.inventory.error(where, f"{exc.code}: {exc}")
            elif exc.status == 404:
                self.inventory.note(f"{path} no longer exists (404)")
            else:
                self.inventory.error(where, f"GET failed ({exc.status} {exc.code}): {exc}")


def _default_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    # azure-identity logs each failed credential as a warning; the one-line error says it all
    logging.getLogger("azure.identity").addHandler(logging.NullHandler())
    logging.getLogger("azure.identity").propagate = False

    try:
        return DefaultAzureCredential()
    except ValueError as exc:  # e.g. AZURE_AUTHORITY_HOST not https
        raise AzureCredentialsError(f"no usable Azure credentials: {exc}") from None


def _credential_message(credential: Any, exc: Exception) -> str:
    chain = [
        # a credential that failed to initialize stands in under another class name
        str(getattr(c, "_credential_name", "") or type(c).__name__)
        for c in getattr(credential, "credentials", ())
    ]
    # a credential that was configured and failed (a wrong secret, an authority that cannot be
    # reached) is named with its reason; the rest of the chain was merely unavailable
    failed = [
        " ".join(line.split()) for line in str(exc).splitlines() if "Authentication failed" in line
    ]
    if failed:
        return f"Azure sign-in failed: {failed[0][:240]}"
    tried = f"; DefaultAzureCredential tried {', '.join(chain)}" if chain else ""
    first = " ".join(str(exc).split("\n")[0].split()).rstrip(".")[:200]
    return f"no usable Azure credentials ({first}){tried}"


def _full_name(rid: str, fallback: str) -> str:
    """A resource's ARM name path from its id (``ws/endpoint/blue``), as an ARM template names
    it, so children that share their last segment keep apart."""
    tail = rid.rsplit("/providers/", 1)[1].split("/") if "/providers/" in rid else []
    names = tail[2::2]
    return "/".join(names) if names and all(names) else fallback


def _add(arm: _Arm, body: dict[str, Any], subscription: str) -> None:
    rid = str(body.get("id", ""))
    rtype = str(body.get("type", ""))
    name = _full_name(rid, str(body.get("name", rid.rsplit("/", 1)[-1])))
    arm.inventory.add(
        live_resource(
            provider="azure",
            type=rtype,
            name=name,
            ident=rid,
            attributes=body,
            language="arm",
            account=subscription,
            region=str(body.get("location", "")),
            address=f"{rtype} {name}",
        )
    )


def _add_all(arm: _Arm, path: str, version: str, sub: str, **extra: Any) -> None:
    """Every resource of a list path into the inventory; a failure is recorded, not raised."""

    def read() -> None:
        for item in arm.pages(path, version):
            _add(arm, {**item, **extra}, sub)

    arm.guarded(path, read)


def _workspace(arm: _Arm, ws: dict[str, Any], sub: str, deps: set[str]) -> None:
    v = API_VERSIONS[_ML]
    wid = str(ws["id"])
    _add(arm, ws, sub)
    props = ws.get("properties") or {}
    for key in ("storageAccount", "keyVault", "containerRegistry"):
        if isinstance(props.get(key), str) and _ID.match(props[key]):
            deps.add(props[key])
    cmk = (props.get("encryption") or {}).get("keyVaultProperties") or {}
    vault, ident = cmk.get("keyVaultArmId"), cmk.get("keyIdentifier")
    found = _KEY_URI.match(ident) if isinstance(ident, str) else None
    if isinstance(vault, str) and _ID.match(vault) and found:
        deps.add(f"{vault}/keys/{found.group(1)}")  # its rotation policy (MLSTIX-AZ-KV-002)
    _add_all(arm, f"{wid}/computes", v, sub)
    _add_all(arm, f"{wid}/batchEndpoints", v, sub)

    def endpoints() -> None:
        for ep in arm.pages(f"{wid}/onlineEndpoints", v):
            _add(arm, ep, sub)
            _add_all(arm, f"{ep['id']}/deployments", v, sub)

    arm.guarded(f"{wid}/onlineEndpoints", endpoints)
    _add_all(
        arm,
        f"{wid}/providers/Microsoft.Insights/diagnosticSettings",
        API_VERSIONS["Microsoft.Insights"],
        sub,
        type="Microsoft.Insights/diagnosticSettings",
    )


def collect_azure(options: AzureOptions) -> tuple[Inventory, list[Artifact]]:
    """Read the subscription's Azure ML estate; raise :class:`AzureCredentialsError` when no
    credential works. Also returns the deployed model assets (fetched only if asked)."""
    check_azure(options.subscription, options.resource_groups)
    sub = options.subscription
    inventory = Inventory(cloud="azure", target=sub)
    inventory.collected_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    arm = _Arm(options, inventory)
    v = API_VERSIONS[_ML]
    scopes = [f"/subscriptions/{sub}/resourceGroups/{rg}" for rg in options.resource_groups] or [
        f"/subscriptions/{sub}"
    ]
    workspaces: list[dict[str, Any]] = []
    for scope in scopes:
        path = f"{scope}/providers/{_ML}/workspaces"
        arm.guarded(path, functools.partial(_extend, workspaces, arm, path, v))
        _add_all(arm, f"{scope}/providers/{_ML}/registries", v, sub)
    deps: set[str] = set()
    _run([functools.partial(_workspace, arm, ws, sub, deps) for ws in workspaces], options.jobs)
    _run([functools.partial(_dependency, arm, rid, sub) for rid in sorted(deps)], options.jobs)
    return inventory, azure_artifacts(arm, inventory)


def _extend(out: list[dict[str, Any]], arm: _Arm, path: str, version: str) -> None:
    out.extend(arm.pages(path, version))


def _dependency(arm: _Arm, rid: str, sub: str) -> None:
    namespace = rid.split("/providers/", 1)[1].split("/", 1)[0]
    version = next((v for k, v in API_VERSIONS.items() if k.lower() == namespace.lower()), "")

    def read() -> None:
        _add(arm, arm.get(rid, version), sub)

    arm.guarded(rid, read)
