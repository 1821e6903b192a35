"""A replayed Azure Resource Manager for the assess tests.

Each body follows a published example of the Azure REST API specifications
(github.com/Azure/azure-rest-api-specs, ``specification/<service>/resource-manager/...``),
named beside it; values are changed to make one workspace open and one locked down. The server
answers GETs with ``api-version`` on the paths ARM serves, pages lists with ``nextLink``,
answers 401 without the test token and the ARM ``AuthorizationFailed`` error on chosen paths, and
records every request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.assess.http_support import QuietJsonHandler, serving

SUB = "00000000-1111-2222-3333-444444444444"
RG = f"/subscriptions/{SUB}/resourceGroups/workspace-1234"
ML = f"{RG}/providers/Microsoft.MachineLearningServices"
TOKEN = "azure-replay-token-93c1"


class StaticToken:
    """A TokenCredential that hands out the replay server's token (azure-core protocol)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(TOKEN, int(time.time()) + 3600)


def _system_data() -> dict[str, Any]:
    return {"createdAt": "2026-11-01T12:34:56.999Z", "createdByType": "User"}


def _workspace(name: str, *, locked: bool) -> dict[str, Any]:
    # follows .../Microsoft.MachineLearningServices/stable/2024-04-01/examples/Workspace/get.json
    props: dict[str, Any] = {
        "containerRegistry": f"{RG}/providers/Microsoft.ContainerRegistry/registries/acr{name}",
        "keyVault": f"{RG}/providers/Microsoft.KeyVault/vaults/kv-{name}",
        "applicationInsights": f"{RG}/providers/microsoft.insights/components/ai-{name}",
        "storageAccount": f"{RG}/providers/Microsoft.Storage/storageAccounts/st{name}",
        "friendlyName": name,
        "hbiWorkspace": locked,
        "publicNetworkAccess": "Disabled" if locked else "Enabled",
        "privateLinkCount": 1 if locked else 0,
    }
    if locked:
        props["encryption"] = {
            "status": "Enabled",
            "keyVaultProperties": {
                "keyVaultArmId": f"{RG}/providers/Microsoft.KeyVault/vaults/kv-{name}",
                "keyIdentifier": f"https://kv-{name}.vault.azure.net/keys/cmk/aabbccddee112233",
            },
        }
        props["managedNetwork"] = {"isolationMode": "AllowOnlyApprovedOutbound"}
    return {
        "id": f"{ML}/workspaces/{name}",
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces",
        "location": "eastus2",
        "identity": {"type": "SystemAssigned", "principalId": SUB, "tenantId": SUB},
        "properties": props,
        "systemData": _system_data(),
    }


def _compute(ws: str, name: str, *, locked: bool) -> dict[str, Any]:
    # follows .../2024-04-01/examples/Compute/get/ComputeInstance.json
    return {
        "id": f"{ML}/workspaces/{ws}/computes/{name}",
        "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "name": name,
        "location": "eastus2",
        "properties": {
            "computeType": "ComputeInstance",
            "provisioningState": "Succeeded",
            "disableLocalAuth": locked,
            "properties": {
                "vmSize": "STANDARD_NC6",
                "enableNodePublicIp": not locked,
                "sshSettings": {
                    "sshPublicAccess": "Disabled" if locked else "Enabled",
                    "adminUserName": "azureuser",
                    "sshPort": 22,
                },
                "computeInstanceAuthorizationType": "personal",
                "state": "Running",
            },
        },
    }


def _endpoint(ws: str, name: str, *, locked: bool) -> dict[str, Any]:
    # follows .../2024-04-01/examples/Workspace/OnlineEndpoint/get.json
    return {
        "id": f"{ML}/workspaces/{ws}/onlineEndpoints/{name}",
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "location": "eastus2",
        "kind": "Managed",
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "authMode": "AADToken" if locked else "Key",
            "publicNetworkAccess": "Disabled" if locked else "Enabled",
            "scoringUri": f"https://{name}.eastus2.inference.ml.azure.com/score",
            "provisioningState": "Succeeded",
            "traffic": {"blue": 100},
        },
        "systemData": _system_data(),
    }


def _deployment(ws: str, endpoint: str, *, locked: bool) -> dict[str, Any]:
    # follows .../2024-04-01/examples/OnlineDeployment/ManagedOnlineDeployment/createOrUpdate.json
    props: dict[str, Any] = {
        "endpointComputeType": "Managed",
        "model": f"{ML}/workspaces/{ws}/models/fraud/versions/3",
        "instanceType": "Standard_DS3_v2",
        "environmentVariables": {"MODEL_NAME": "fraud", "STORAGE_KEY": "azure-secret-value-1"},
        "provisioningState": "Succeeded",
    }
    if locked:
        props["egressPublicNetworkAccess"] = "Disabled"
    return {
        "id": f"{ML}/workspaces/{ws}/onlineEndpoints/{endpoint}/deployments/blue",
        "name": "blue",
        "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
        "location": "eastus2",
        "kind": "Managed",
        "properties": props,
        "sku": {"name": "Default", "capacity": 1},
    }


def _storage(name: str, *, locked: bool) -> dict[str, Any]:
    # follows specification/storage/resource-manager/Microsoft.Storage/stable/2023-05-01/
    # examples/StorageAccountGetProperties.json
    return {
        "id": f"{RG}/providers/Microsoft.Storage/storageAccounts/{name}",
        "name": name,
        "type": "Microsoft.Storage/storageAccounts",
        "location": "eastus2",
        "kind": "StorageV2",
        "sku": {"name": "Standard_GRS", "tier": "Standard"},
        "properties": {
            "allowBlobPublicAccess": not locked,
            "allowSharedKeyAccess": not locked,
            "supportsHttpsTrafficOnly": True,
            "minimumTlsVersion": "TLS1_2",
            "publicNetworkAccess": "Disabled" if locked else "Enabled",
            "networkAcls": {
                "defaultAction": "Deny" if locked else "Allow",
                "bypass": "AzureServices",
            },
            "encryption": {
                "keySource": "Microsoft.Storage",
                "services": {"blob": {"enabled": True, "keyType": "Account"}},
            },
        },
    }


def _vault(name: str, *, locked: bool) -> dict[str, Any]:
    # follows specification/keyvault/resource-manager/Microsoft.KeyVault/stable/2023-07-01/
    # examples/getVault.json
    props: dict[str, Any] = {
        "tenantId": SUB,
        "sku": {"family": "A", "name": "standard"},
        "enableSoftDelete": True,
        "enableRbacAuthorization": True,
        "vaultUri": f"https://{name}.vault.azure.net",
    }
    if locked:
        props["enablePurgeProtection"] = True
    return {
        "id": f"{RG}/providers/Microsoft.KeyVault/vaults/{name}",
        "name": name,
        "type": "Microsoft.KeyVault/vaults",
        "location": "eastus2",
        "properties": props,
    }


def _key(vault: str, name: str, *, rotated: bool) -> dict[str, Any]:
    # follows specification/keyvault/resource-manager/Microsoft.KeyVault/stable/2023-07-01/
    # examples/getKey.json, with the rotationPolicy of KeyProperties
    props: dict[str, Any] = {
        "attributes": {
            "enabled": True,
            "created": 1780000000,
            "updated": 1780000000,
            "recoveryLevel": "Recoverable",
            "exportable": False,
        },
        "kty": "RSA",
        "keyOps": ["wrapKey", "unwrapKey"],
        "keySize": 2048,
        "keyUri": f"https://{vault}.vault.azure.net/keys/{name}",
        "keyUriWithVersion": f"https://{vault}.vault.azure.net/keys/{name}/aabbccddee112233",
    }
    if rotated:
        props["rotationPolicy"] = {
            "attributes": {"expiryTime": "P2Y"},
            "lifetimeActions": [
                {"trigger": {"timeAfterCreate": "P1Y"}, "action": {"type": "rotate"}},
                {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "notify"}},
            ],
        }
    return {
        "id": f"{RG}/providers/Microsoft.KeyVault/vaults/{vault}/keys/{name}",
        "name": name,
        "type": "Microsoft.KeyVault/vaults/keys",
        "location": "eastus2",
        "tags": {},
        "properties": props,
    }


def _registry(name: str, *, locked: bool) -> dict[str, Any]:
    # follows specification/containerregistry/resource-manager/Microsoft.ContainerRegistry/
    # stable/2023-07-01/examples/RegistryGet.json
    return {
        "id": f"{RG}/providers/Microsoft.ContainerRegistry/registries/{name}",
        "name": name,
        "type": "Microsoft.ContainerRegistry/registries",
        "location": "eastus2",
        "sku": {"name": "Premium", "tier": "Premium"},
        "properties": {
            "loginServer": f"{name}.azurecr.io",
            "adminUserEnabled": False,
            "publicNetworkAccess": "Disabled" if locked else "Enabled",
            "policies": {
                # Docker Content Trust: retired by ACR (MLSTIX-AZ-ACR-002 flags it where on)
                "trustPolicy": {"type": "Notary", "status": "disabled" if locked else "enabled"}
            },
        },
    }


def _diagnostic(ws: str) -> dict[str, Any]:
    # follows specification/monitor/resource-manager/Microsoft.Insights/preview/
    # 2021-05-01-preview/examples/getDiagnosticSettingCategory.json (GET diagnosticSettings)
    return {
        "id": f"{ML}/workspaces/{ws}/providers/microsoft.insights/diagnosticSettings/to-la",
        "name": "to-la",
        "properties": {
            "workspaceId": f"{RG}/providers/Microsoft.OperationalInsights/workspaces/la",
            "logs": [{"categoryGroup": "allLogs", "enabled": True}],
            "metrics": [],
        },
    }


def _model_version(ws: str) -> dict[str, Any]:
    # follows .../2024-04-01/examples/Workspace/ModelVersion/get.json
    return {
        "id": f"{ML}/workspaces/{ws}/models/fraud/versions/3",
        "name": "3",
        "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
        "properties": {
            "modelType": "CustomModel",
            "isAnonymous": False,
            "modelUri": f"azureml://subscriptions/{SUB}/resourcegroups/workspace-1234/workspaces/"
            f"{ws}/datastores/workspaceblobstore/paths/LocalUpload/{ws}/fraud/",
        },
    }


def _datastore(ws: str) -> dict[str, Any]:
    # follows .../2024-04-01/examples/Datastore/get.json (the GET carries no secrets)
    return {
        "id": f"{ML}/workspaces/{ws}/datastores/workspaceblobstore",
        "name": "workspaceblobstore",
        "type": "Microsoft.MachineLearningServices/workspaces/datastores",
        "properties": {
            "isDefault": True,
            "credentials": {
                "credentialsType": "AccountKey",
                "secrets": {"secretsType": "AccountKey"},
            },
            "datastoreType": "AzureBlob",
            "accountName": f"st{ws}",
            "containerName": "azureml-blobstore",
            "endpoint": "core.windows.net",
            "protocol": "https",
        },
    }


def _ml_registry(name: str, *, locked: bool) -> dict[str, Any]:
    # follows .../2024-04-01/examples/Registry/systemCreated/get.json
    return {
        "id": f"{ML}/registries/{name}",
        "name": name,
        "type": "Microsoft.MachineLearningServices/registries",
        "location": "eastus2",
        "identity": {"type": "SystemAssigned"},
        "kind": "",
        "sku": {"name": "P3", "tier": "Free"},
        "properties": {
            "discoveryUrl": f"https://eastus2.api.azureml.ms/registrymanagement/v1.0/registries/{name}/discovery",
            "intellectualPropertyPublisher": "Contoso",
            "mlFlowRegistryUri": f"azureml://eastus2.api.azureml.ms/mlflow/v1.0/registries/{name}",
            "publicNetworkAccess": "Disabled" if locked else "Enabled",
            "regionDetails": [{"location": "eastus2"}],
        },
        "systemData": _system_data(),
    }


def estate() -> dict[str, list[dict[str, Any]]]:
    """List path -> items, and resource id -> body (a list of one)."""
    out: dict[str, list[dict[str, Any]]] = {}
    wss = [_workspace("wsopen", locked=False), _workspace("wslocked", locked=True)]
    out[f"/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/workspaces"] = wss
    out[f"/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/registries"] = [
        _ml_registry("models-shared", locked=False),
        _ml_registry("models-private", locked=True),
    ]
    for ws in wss:
        name, locked = ws["name"], ws["name"] == "wslocked"
        wid = ws["id"]
        out[f"{wid}/computes"] = [_compute(name, f"ci-{name}", locked=locked)]
        out[f"{wid}/batchEndpoints"] = []
        out[f"{wid}/onlineEndpoints"] = [_endpoint(name, f"ep-{name}", locked=locked)]
        out[f"{wid}/onlineEndpoints/ep-{name}/deployments"] = [
            _deployment(name, f"ep-{name}", locked=locked)
        ]
        out[f"{wid}/providers/Microsoft.Insights/diagnosticSettings"] = (
            [_diagnostic(name)] if locked else []
        )
        for body in (
            _model_version(name),
            _datastore(name),
            _storage(f"st{name}", locked=locked),
            _vault(f"kv-{name}", locked=locked),
            _registry(f"acr{name}", locked=locked),
        ):
            out[body["id"]] = [body]
        if locked:  # the customer-managed key its encryption names
            key = _key(f"kv-{name}", "cmk", rotated=True)
            out[key["id"]] = [key]
    return out


class ArmReplay:
    def __init__(self) -> None:
        self.estate = estate()
        self.requests: list[tuple[str, str]] = []
        self.denied: set[str] = set()
        self.page = 1  # items per page, so nextLink is followed
        # blobs of the emulated storage account (path-style, as Azurite serves them)
        self.blobs: dict[str, bytes] = {}


def _handler(replay: ArmReplay) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietJsonHandler):
        content_type = "application/json; charset=utf-8"
        extra_headers = {"x-ms-request-id": "00000000-0000-0000-0000-000000000000"}  # noqa: RUF012

        def _any(self) -> None:
            replay.requests.append((self.command, self.path))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(
                    401,
                    {
                        "error": {
                            "code": "InvalidAuthenticationToken",
                            "message": "The access token is invalid.",
                        }
                    },
                )
                return
            url = urlparse(self.path)
            query = parse_qs(url.query)
            if self.command == "GET" and url.path.startswith("/devstoreaccount1/"):
                self._blob(url.path[len("/devstoreaccount1/") :], query)
                return
            if self.command != "GET" or "api-version" not in query:
                self._send(400, {"error": {"code": "InvalidRequest", "message": "GET only"}})
                return
            path = url.path
            if path in replay.denied:
                self._send(
                    403,
                    {
                        "error": {
                            "code": "AuthorizationFailed",
                            "message": "The client 'auditor' with object id '0000' does not have "
                            f"authorization to perform action over scope '{path}' or the scope is "
                            "invalid.",
                        }
                    },
                )
                return
            if path not in replay.estate:
                self._send(
                    404,
                    {"error": {"code": "ResourceNotFound", "message": f"{path} was not found."}},
                )
                return
            items = replay.estate[path]
            if len(items) == 1 and items[0].get("id", "").lower() == path.lower():
                self._send(200, items[0])
                return
            start = int((query.get("$skipToken") or ["0"])[0])
            body: dict[str, Any] = {"value": items[start : start + replay.page]}
            if start + replay.page < len(items):
                host = self.headers.get("Host")
                body["nextLink"] = (
                    f"http://{host}{path}?api-version={query['api-version'][0]}"
                    f"&$skipToken={start + replay.page}"
                )
            self._send(200, body)

        def _blob(self, rest: str, query: dict[str, list[str]]) -> None:
            container = rest.partition("/")[0]
            if query.get("comp") == ["list"]:
                # the List Blobs response of the Blob service REST API
                prefix = (query.get("prefix") or [""])[0]
                items = "".join(
                    f"<Blob><Name>{n}</Name><Properties><Content-Length>{len(b)}"
                    "</Content-Length></Properties></Blob>"
                    for n, b in sorted(replay.blobs.items())
                    if n.startswith(f"{container}/{prefix}")
                ).replace(f"<Name>{container}/", "<Name>")
                xml = (
                    '<?xml version="1.0" encoding="utf-8"?><EnumerationResults '
                    f'ContainerName="{container}"><Prefix>{prefix}</Prefix><Blobs>{items}'
                    "</Blobs><NextMarker /></EnumerationResults>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(xml)))
                self.end_headers()
                self.wfile.write(xml)
                return
            data = replay.blobs.get(unquote(rest))
            if data is None:
                self._send(404, {"error": "BlobNotFound"})
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

    return Handler


@contextmanager
def arm_server() -> Iterator[tuple[str, ArmReplay]]:
    replay = ArmReplay()
    with serving(_handler(replay)) as url:
        yield url, replay
