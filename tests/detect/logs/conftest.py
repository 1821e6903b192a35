"""Realistic base events per log source; rule fixtures (rules/<rule>.json) override parts of them.

The base events follow the providers' published record formats: CloudTrail record contents
(docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html),
the Azure Activity Log schema for exported records (learn.microsoft.com/azure/azure-monitor/
essentials/activity-log-schema), the Cloud Logging LogEntry with an AuditLog payload, and the
Kubernetes audit.k8s.io/v1 Event.
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sigma", reason="mlstix detect needs the 'detect' extra (pySigma)")
pytest.importorskip("duckdb", reason="mlstix detect needs the 'detect' extra (DuckDB)")

RULES = Path(__file__).parent / "rules"

BASE: dict[str, dict[str, Any]] = {
    "aws": {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLEPIPELINE1:codebuild",
            "arn": "arn:aws:sts::111122223333:assumed-role/ml-release-pipeline/codebuild",
            "accountId": "111122223333",
        },
        "eventTime": "2026-11-30T12:00:00Z",
        "eventSource": "sagemaker.amazonaws.com",
        "eventName": "DescribeEndpoint",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.20",
        "userAgent": "aws-cli/2.22.0 md/Botocore#1.35.0",
        "requestParameters": {},
        "responseElements": None,
        "requestID": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
        "eventID": "e1f2a3b4-5678-90ab-cdef-EXAMPLE22222",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"},
    },
    "azure": {
        "time": "2026-11-30T12:00:00.1234567Z",
        "resourceId": (
            "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG-ML-PROD/"
            "PROVIDERS/MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/MLW-FRAUD-PROD/"
            "ONLINEENDPOINTS/FRAUD-PROD/DEPLOYMENTS/BLUE"
        ),
        "operationName": "MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/READ",
        "category": "Administrative",
        "resultType": "Start",
        "resultSignature": "Started.",
        "durationMs": "0",
        "callerIpAddress": "203.0.113.9",
        "correlationId": "4b1e0c8a-7d3f-4c2e-9a51-0f6b2d7e8c90",
        "identity": {
            "authorization": {
                "scope": (
                    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml-prod"
                ),
                "action": "Microsoft.MachineLearningServices/workspaces/read",
                "evidence": {
                    "role": "Contributor",
                    "roleAssignmentScope": "/subscriptions/00000000-0000-0000-0000-000000000000",
                    "principalId": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
                    "principalType": "User",
                },
            },
            "claims": {
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "mallory@contoso.com",
                "name": "Mallory",
                "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            },
        },
        "level": "Information",
        "location": "global",
        "properties": {"statusCode": "Created", "eventCategory": "Administrative"},
    },
    "gcp": {
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "status": {},
            "authenticationInfo": {"principalEmail": "pipeline@acme-ml.iam.gserviceaccount.com"},
            "requestMetadata": {
                "callerIp": "203.0.113.5",
                "callerSuppliedUserAgent": "google-cloud-sdk gcloud/500.0.0",
            },
            "serviceName": "aiplatform.googleapis.com",
            "methodName": "google.cloud.aiplatform.v1.EndpointService.GetEndpoint",
            "resourceName": "projects/acme-ml/locations/us-central1/endpoints/4815162342",
        },
        "insertId": "1x2y3z4w5v6u",
        "resource": {
            "type": "audited_resource",
            "labels": {"service": "aiplatform.googleapis.com", "project_id": "acme-ml"},
        },
        "timestamp": "2026-11-30T12:00:00.123456789Z",
        "severity": "NOTICE",
        "logName": "projects/acme-ml/logs/cloudaudit.googleapis.com%2Factivity",
        "receiveTimestamp": "2026-11-30T12:00:01.234567890Z",
    },
    "k8s": {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "3d3c8a8e-6b1f-4a7e-9c1d-2f0e5b7a9c31",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/kserve-prod/pods",
        "verb": "get",
        "user": {"username": "mallory@example.com", "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.7"],
        "userAgent": "kubectl/v1.31.0 (linux/amd64) kubernetes/abcdef0",
        "objectRef": {"resource": "pods", "namespace": "kserve-prod", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2026-11-30T12:00:00.000000Z",
        "stageTimestamp": "2026-11-30T12:00:00.050000Z",
    },
}


def merge(base: Any, over: Any) -> Any:
    """``over`` deep-merged onto a copy of ``base`` (mappings merge, everything else replaces; a
    ``null`` in ``over`` removes the key, for events that lack a field the base has)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = copy.deepcopy(base)
        for key, value in over.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(out[key], value) if key in out else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def event(rule: str, over: dict[str, Any]) -> dict[str, Any]:
    product = rule.split("-", 1)[0]
    return merge(BASE[product], over)  # type: ignore[no-any-return]


def write_lines(path: Path, events: list[Any], *, gz: bool = False) -> Path:
    text = "".join(json.dumps(e) + "\n" for e in events)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def write_document(path: Path, events: list[Any], key: str = "Records") -> Path:
    path.write_bytes(gzip.compress(json.dumps({key: events}).encode()))
    return path


@pytest.fixture(scope="session")
def kb() -> Any:
    from mlstix.kb.load import load_kb

    return load_kb()
