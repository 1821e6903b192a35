"""MLSTIX-AWS-KMS-002 on live keys, in the shape the collector stores them (DescribeKey's
metadata, ``EnableKeyRotation``/``RotationPeriodInDays`` from GetKeyRotationStatus): moto's
server answers no ``RotationPeriodInDays``, so the period is tested here."""

from __future__ import annotations

from typing import Any

import pytest

from mlstix.assess import Inventory, evaluate_inventory
from mlstix.assess._inventory import live_resource
from mlstix.kb.graph import KnowledgeBase

ACCOUNT = "123456789012"


def _key(name: str, **attrs: Any) -> Any:
    base = {"KeyId": name, "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT"}
    return live_resource(
        provider="aws",
        type="AWS::KMS::Key",
        name=name,
        ident=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{name}",
        attributes={**base, "Origin": "AWS_KMS", "KeyState": "Enabled", **attrs},
        language="cloudformation",
        account=ACCOUNT,
        region="us-east-1",
    )


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"EnableKeyRotation": False}, "automatic key rotation is off"),
        ({"EnableKeyRotation": True, "RotationPeriodInDays": 730}, "every 730 days"),
        ({"EnableKeyRotation": True, "RotationPeriodInDays": 365}, None),
        ({"EnableKeyRotation": True}, None),  # the default period, 365 days
        ({}, None),  # GetKeyRotationStatus not answered (denied): not known, no finding
        ({"EnableKeyRotation": False, "Origin": "EXTERNAL"}, None),  # imported key material
        ({"EnableKeyRotation": False, "Origin": "AWS_CLOUDHSM"}, None),  # custom key store
        ({"EnableKeyRotation": False, "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, None),
        ({"EnableKeyRotation": False, "KeyState": "PendingDeletion"}, None),
    ],
)
def test_live_key_rotation(kb: KnowledgeBase, attrs: dict[str, Any], message: str | None) -> None:
    inv = Inventory(cloud="aws", target="t")
    inv.add(_key("k1", **attrs))
    found = [f for f in evaluate_inventory(inv, kb).findings if f.rule_id == "MLSTIX-AWS-KMS-002"]
    if message is None:
        assert found == []
    else:
        assert len(found) == 1 and message in found[0].message
        assert found[0].location.path == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1"
