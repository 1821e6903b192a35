"""The cloud-independent parts of assess: live rules, redaction, the task runner, permissions."""

from __future__ import annotations

import threading
import time

import pytest

from mlstix.assess._inventory import plain
from mlstix.assess._pool import run
from mlstix.assess._rules import live_registry
from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.rules.iac import default_registry


def test_live_rules_are_new_ids_and_speak_in_kb_keys(kb: KnowledgeBase) -> None:
    live = live_registry()
    assert not set(live.rules) & set(default_registry().rules)
    for rule in live:
        assert rule.vulnerability in kb, rule.id
        for coa in rule.courses_of_action:
            assert coa in kb, (rule.id, coa)


def test_secret_looking_values_are_redacted_and_the_rest_kept() -> None:
    data = {
        "PrimaryContainer": {
            "Environment": {
                "HF_TOKEN": "t",
                "STORAGE_KEY": "k",
                "DB_PASSWORD": "p",
                "MODEL_NAME": "bert",
            }
        },
        "HyperParameters": {"epochs": "3", "api_key": "a"},
        "containers": [
            {
                "env": [
                    {"name": "AWS_SECRET_ACCESS_KEY", "value": "s"},
                    {"name": "MODEL_ID", "value": "m"},
                ]
            }
        ],
        "KmsKeyId": "arn:aws:kms:us-east-1:1:key/x",  # not under an environment map: kept
    }
    out = plain(data)
    env = out["PrimaryContainer"]["Environment"]
    assert env["MODEL_NAME"] == "bert" and {
        env[k] for k in ("HF_TOKEN", "STORAGE_KEY", "DB_PASSWORD")
    } == {"<redacted by mlstix>"}
    assert out["HyperParameters"] == {"epochs": "3", "api_key": "<redacted by mlstix>"}
    assert out["containers"][0]["env"] == [
        {"name": "AWS_SECRET_ACCESS_KEY", "value": "<redacted by mlstix>"},
        {"name": "MODEL_ID", "value": "m"},
    ]
    assert out["KmsKeyId"] == data["KmsKeyId"]


def test_runner_bounds_concurrency_and_raises_the_first_error() -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def task() -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1

    run([task] * 12, 3)
    assert peak[0] == 3

    def boom() -> None:
        raise ValueError("denied")

    with pytest.raises(ValueError, match="denied"):
        run([task, boom, task], 2)


def test_permission_names() -> None:
    from mlstix.assess.aws._client import iam_action
    from mlstix.assess.azure import permission

    assert iam_action("s3", "GetBucketEncryption") == "s3:GetEncryptionConfiguration"
    assert iam_action("s3control", "GetPublicAccessBlock") == "s3:GetAccountPublicAccessBlock"
    assert iam_action("sagemaker", "ListModels") == "sagemaker:ListModels"
    rid = "/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices"
    assert permission(f"{rid}/workspaces/w/onlineEndpoints/e/deployments") == (
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/read"
    )
    diag = f"{rid}/workspaces/w/providers/Microsoft.Insights/diagnosticSettings"
    assert permission(diag) == "Microsoft.Insights/diagnosticSettings/read"
