"""ARM ``format``/``concat`` of literal arguments (after parameters are inlined) give their
string: Bicep writes every child resource's name as ``format('{0}/{1}', ...)``, so a key,
endpoint or deployment name is known and references to it resolve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlstix.scan.iac import collect
from mlstix.scan.iac.arm import _string_call
from mlstix.scan.rules.iac import default_registry, evaluate


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("[format('{0}/{1}', 'kv', 'cmk')]", "kv/cmk"),
        ("[format('{0}-{1}-{0}', 'a', 7)]", "a-7-a"),
        ("[concat('kv', '/', 'it''s')]", "kv/it's"),
        ("[format('{0}/{2}', 'a', 'b')]", None),  # placeholder out of range
        ("[format('{0}', parameters('x'))]", None),  # not literal
        ("[concat('a', uniqueString(resourceGroup().id))]", None),
        ("[toLower('A')]", None),
    ],
)
def test_string_calls(expr: str, value: str | None) -> None:
    assert _string_call(expr) == value


def test_bicep_child_key_name_is_known_and_referenced(tmp_path: Path) -> None:
    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "vaultName": {"type": "string", "defaultValue": "kvml"},
            "keyName": {"type": "string", "defaultValue": "cmk"},
        },
        "resources": [
            {
                "type": "Microsoft.KeyVault/vaults/keys",
                "apiVersion": "2023-07-01",
                "name": "[format('{0}/{1}', parameters('vaultName'), parameters('keyName'))]",
                "properties": {"kty": "RSA"},
            },
            {
                "type": "Microsoft.MachineLearningServices/workspaces",
                "apiVersion": "2024-04-01",
                "name": "ws",
                "properties": {
                    "encryption": {
                        "status": "Enabled",
                        "keyVaultProperties": {
                            "keyIdentifier": "[reference(resourceId('Microsoft.KeyVault/vaults/"
                            "keys', parameters('vaultName'), parameters('keyName')), "
                            "'2023-07-01').keyUriWithVersion]"
                        },
                    }
                },
            },
        ],
    }
    (tmp_path / "main.json").write_text(json.dumps(template))
    found = collect([tmp_path])
    assert not found.errors
    registry = default_registry()
    hits = evaluate(registry, [registry.get("MLSTIX-AZ-KV-002")], found.resources, None)
    assert [f.location.resource for f in hits] == ["Microsoft.KeyVault/vaults/keys kvml/cmk"]
