"""A replayed Google API front end for the assess tests: Vertex AI v1, Notebooks v2 (Workbench),
Cloud Storage JSON v1, Cloud Resource Manager v1 and Cloud KMS v1 (the CMEK key), on one
loopback port.

Bodies use the fields of the v1/v2 REST references (the discovery documents bundled with
google-api-python-client define them; a test checks every top-level field against them); one
endpoint, job, instance and bucket of each pair is open, the other hardened. Lists page with
``nextPageToken``; requests without the test token answer 401; chosen paths answer 403 with the
``PERMISSION_DENIED`` error body of Google APIs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.assess.aws_support import pickle_payload
from tests.assess.http_support import QuietJsonHandler, serving

PROJECT = "ml-prod-4821"
LOC = f"projects/{PROJECT}/locations/us-central1"
TOKEN = "ya29.replay-token-6b2f"
CMEK = f"projects/{PROJECT}/locations/us-central1/keyRings/ml/cryptoKeys/vertex"


def vertex() -> dict[str, list[dict[str, Any]]]:
    return {
        "endpoints": [
            {
                "name": f"{LOC}/endpoints/111",
                "displayName": "fraud-public",
                "deployedModels": [{"id": "1", "model": f"{LOC}/models/7"}],
                "trafficSplit": {"1": 100},
            },
            {
                "name": f"{LOC}/endpoints/222",
                "displayName": "fraud-private",
                "network": f"projects/{PROJECT}/global/networks/ml-vpc",
                "encryptionSpec": {"kmsKeyName": CMEK},
            },
        ],
        "models": [
            {
                "name": f"{LOC}/models/7",
                "displayName": "fraud",
                "artifactUri": "gs://ml-models-open/fraud/7",
                "containerSpec": {
                    "imageUri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn:1-3",
                    "env": [{"name": "API_TOKEN", "value": "gcp-secret-value-9"}],
                },
            },
            {
                "name": f"{LOC}/models/8",
                "displayName": "fraud-cmek",
                "artifactUri": "gs://ml-models-locked/fraud/8",
                "encryptionSpec": {"kmsKeyName": CMEK},
            },
        ],
        "datasets": [
            {
                "name": f"{LOC}/datasets/5",
                "displayName": "transactions",
                "metadataSchemaUri": "gs://google-cloud-aiplatform/schema/dataset/metadata/tabular_1.0.0.yaml",
            },
        ],
        "featurestores": [],
        "metadataStores": [
            {"name": f"{LOC}/metadataStores/default", "encryptionSpec": {"kmsKeyName": CMEK}},
        ],
        "tensorboards": [],
        "indexEndpoints": [],
        "customJobs": [
            {
                "name": f"{LOC}/customJobs/31",
                "displayName": "train-open",
                "state": "JOB_STATE_SUCCEEDED",
                "jobSpec": {
                    "workerPoolSpecs": [{"replicaCount": "1"}],
                    "baseOutputDirectory": {"outputUriPrefix": "gs://ml-models-open/jobs/31"},
                },
            },
            {
                "name": f"{LOC}/customJobs/32",
                "displayName": "train-locked",
                "state": "JOB_STATE_SUCCEEDED",
                "encryptionSpec": {"kmsKeyName": CMEK},
                "jobSpec": {
                    "workerPoolSpecs": [{"replicaCount": "1"}],
                    "network": f"projects/{PROJECT}/global/networks/ml-vpc",
                    "serviceAccount": f"trainer@{PROJECT}.iam.gserviceaccount.com",
                },
            },
        ],
        "pipelineJobs": [
            {
                "name": f"{LOC}/pipelineJobs/retrain-open",
                "displayName": "retrain-open",
                "state": "PIPELINE_STATE_SUCCEEDED",
                "runtimeConfig": {"gcsOutputDirectory": "gs://ml-models-open/pipelines"},
            },
            {
                "name": f"{LOC}/pipelineJobs/retrain-locked",
                "displayName": "retrain-locked",
                "state": "PIPELINE_STATE_SUCCEEDED",
                "encryptionSpec": {"kmsKeyName": CMEK},
                "network": f"projects/{PROJECT}/global/networks/ml-vpc",
                "serviceAccount": f"pipelines@{PROJECT}.iam.gserviceaccount.com",
            },
        ],
    }


def workbench() -> list[dict[str, Any]]:
    zone = f"projects/{PROJECT}/locations/us-central1-a"
    return [
        {
            "name": f"{zone}/instances/wb-open",
            "state": "ACTIVE",
            "gceSetup": {
                "machineType": "e2-standard-4",
                "serviceAccounts": [{"email": "123456789-compute@developer.gserviceaccount.com"}],
                "bootDisk": {"diskEncryption": "GMEK", "diskSizeGb": "150"},
                "metadata": {"idle-timeout-seconds": "10800"},
            },
        },
        {
            "name": f"{zone}/instances/wb-locked",
            "state": "ACTIVE",
            "gceSetup": {
                "machineType": "e2-standard-4",
                "disablePublicIp": True,
                "serviceAccounts": [{"email": f"notebook@{PROJECT}.iam.gserviceaccount.com"}],
                "bootDisk": {"diskEncryption": "CMEK", "kmsKey": CMEK},
                # Workbench metadata keys ("Manage features through metadata")
                "metadata": {"notebook-disable-root": "true", "notebook-disable-downloads": "true"},
            },
        },
    ]


def buckets() -> list[dict[str, Any]]:
    return [
        {
            "kind": "storage#bucket",
            "id": "ml-models-open",
            "name": "ml-models-open",
            "location": "US-CENTRAL1",
            "storageClass": "STANDARD",
            "iamConfiguration": {
                "uniformBucketLevelAccess": {"enabled": False},
                "publicAccessPrevention": "inherited",
            },
        },
        {
            "kind": "storage#bucket",
            "id": "ml-models-locked",
            "name": "ml-models-locked",
            "location": "US-CENTRAL1",
            "storageClass": "STANDARD",
            "iamConfiguration": {
                "uniformBucketLevelAccess": {"enabled": True},
                "publicAccessPrevention": "enforced",
            },
            "versioning": {"enabled": True},
            "retentionPolicy": {"retentionPeriod": "2592000", "isLocked": True},
        },
        {"kind": "storage#bucket", "id": "web-assets", "name": "web-assets", "location": "US"},
    ]


def iam_policy(*, audited: bool) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "version": 3,
        "etag": "BwX1",
        "bindings": [
            {
                "role": "roles/viewer",
                "members": [f"serviceAccount:auditor@{PROJECT}.iam.gserviceaccount.com"],
            }
        ],
    }
    if audited:
        policy["auditConfigs"] = [
            {
                "service": "aiplatform.googleapis.com",
                "auditLogConfigs": [
                    {"logType": "ADMIN_READ"},
                    {"logType": "DATA_READ"},
                    {"logType": "DATA_WRITE"},
                ],
            }
        ]
    return policy


def crypto_key(*, rotated: bool) -> dict[str, Any]:
    # follows the cloudkms v1 REST reference, projects.locations.keyRings.cryptoKeys (CryptoKey)
    key: dict[str, Any] = {
        "name": CMEK,
        "primary": {
            "name": f"{CMEK}/cryptoKeyVersions/1",
            "state": "ENABLED",
            "protectionLevel": "SOFTWARE",
            "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
            "createTime": "2026-06-01T10:00:00.123456Z",
        },
        "purpose": "ENCRYPT_DECRYPT",
        "createTime": "2026-06-01T10:00:00.123456Z",
        "versionTemplate": {
            "protectionLevel": "SOFTWARE",
            "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
        },
        "destroyScheduledDuration": "2592000s",
    }
    if rotated:
        key["rotationPeriod"] = "7776000s"
        key["nextRotationTime"] = "2026-12-30T10:00:00Z"
    return key


class GoogleReplay:
    def __init__(self) -> None:
        self.key_rotated = True
        self.vertex = vertex()
        self.instances = workbench()
        self.buckets = buckets()
        self.audited = False
        self.requests: list[tuple[str, str]] = []
        self.denied: set[str] = set()
        self.page = 1
        # objects of model folders: name -> bytes (one with a hostile name)
        self.objects = {
            "fraud/7/model.pkl": pickle_payload(),
            "fraud/7/metadata.json": b'{"framework": "sklearn"}',
            "fraud/7/../../escape.pkl": pickle_payload(),
        }


def _handler(replay: GoogleReplay) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietJsonHandler):
        content_type = "application/json; charset=UTF-8"

        def _error(self, code: int, status: str, message: str) -> None:
            self._send(code, {"error": {"code": code, "message": message, "status": status}})

        def _page(self, key: str, items: list[dict[str, Any]], query: dict[str, list[str]]) -> None:
            start = int((query.get("pageToken") or ["0"])[0])
            body: dict[str, Any] = {key: items[start : start + replay.page]}
            if start + replay.page < len(items):
                body["nextPageToken"] = str(start + replay.page)
            self._send(200, body)

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            replay.requests.append((self.command, self.path))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._error(
                    401, "UNAUTHENTICATED", "Request had invalid authentication credentials."
                )
                return
            url = urlparse(self.path)
            path, query = url.path, parse_qs(url.query)
            if path in replay.denied:
                self._error(403, "PERMISSION_DENIED", f"Permission denied on resource ({path}).")
                return
            if self.command == "POST" and path == f"/v1/projects/{PROJECT}:getIamPolicy":
                self._send(200, iam_policy(audited=replay.audited))
                return
            if self.command != "GET":
                self._error(405, "METHOD_NOT_ALLOWED", "read-only replay")
                return
            if path.startswith(f"/v1/{LOC}/"):
                key = path.rsplit("/", 1)[-1]
                if key in replay.vertex:
                    self._page(key, replay.vertex[key], query)
                    return
            if path == f"/v2/projects/{PROJECT}/locations/-/instances":
                self._page("instances", replay.instances, query)
                return
            if path == "/storage/v1/b":
                self._page("items", replay.buckets, query)
                return
            if path == "/storage/v1/b/ml-models-open/o":
                prefix = (query.get("prefix") or [""])[0]
                items = [
                    {
                        "kind": "storage#object",
                        "bucket": "ml-models-open",
                        "name": n,
                        "size": str(len(b)),
                    }
                    for n, b in sorted(replay.objects.items())
                    if n.startswith(prefix)
                ]
                self._page("items", items, query)
                return
            if path.startswith("/storage/v1/b/ml-models-open/o/") and query.get("alt") == ["media"]:
                data = replay.objects.get(unquote(path.split("/o/", 1)[1]))
                if data is not None:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
            if path == f"/v1/{CMEK}":
                self._send(200, crypto_key(rotated=replay.key_rotated))
                return
            if path.startswith("/storage/v1/b/"):
                name = path.rsplit("/", 1)[-1]
                found = [b for b in replay.buckets if b["name"] == name]
                if found:
                    self._send(200, found[0])
                    return
            self._error(404, "NOT_FOUND", f"{path} not found")

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

    return Handler


@contextmanager
def google_server() -> Iterator[tuple[str, GoogleReplay]]:
    replay = GoogleReplay()
    with serving(_handler(replay)) as url:
        yield url, replay
