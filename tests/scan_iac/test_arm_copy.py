"""ARM ``copy`` loops (resource and property iteration) and element access of parameters and
variables: each instance is its own resource with its own name and finding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlstix.scan.iac import Options, collect
from mlstix.scan.iac._values import is_unknown

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def _scan(tmp_path: Path, doc: dict[str, Any], **given: str) -> dict[str, Any]:
    (tmp_path / "t.json").write_text(
        json.dumps({"$schema": SCHEMA, "contentVersion": "1.0.0.0", **doc})
    )
    found = collect([tmp_path], options=Options(parameters=tuple(given.items())))
    assert not found.errors
    return {r.name: r.attributes for r in found.resources}


def test_resource_loops(tmp_path: Path) -> None:
    doc = {
        "parameters": {
            "vaults": {"type": "array", "defaultValue": [{"n": "kva"}, {"n": "kvb"}]},
            "count": {"type": "int", "defaultValue": 2},
        },
        "variables": {"purge": [True, False]},
        "resources": [
            {
                "type": "Microsoft.KeyVault/vaults",
                "name": "[parameters('vaults')[copyIndex()].n]",
                "copy": {"name": "vaultLoop", "count": "[length(parameters('vaults'))]"},
                "properties": {"enablePurgeProtection": "[variables('purge')[copyIndex()]]"},
            },
            {
                "type": "Microsoft.MachineLearningServices/workspaces",
                "name": "[concat('ws', copyIndex(1))]",
                "copy": {"name": "wsLoop", "count": "[parameters('count')]"},
                "condition": "[not(equals(copyIndex(), 1))]",
                "properties": {"friendlyName": "[format('ws {0}', copyIndex('wsLoop', 10))]"},
            },
            {
                "type": "Microsoft.Storage/storageAccounts",
                "name": "[concat('st', copyIndex())]",
                "copy": {"name": "stLoop", "count": "[parameters('unknown')]"},
                "properties": {},
            },
        ],
    }
    found = _scan(tmp_path, doc)
    assert found["kva"]["properties"]["enablePurgeProtection"] is True
    assert found["kvb"]["properties"]["enablePurgeProtection"] is False
    assert found["ws1"]["properties"]["friendlyName"] == "ws 10"
    assert "ws2" not in found  # its condition is false at copyIndex() 1
    unknown = [n for n in found if n.startswith("[concat('st'")]
    assert len(unknown) == 1  # count not known: one instance, its index unknown
    assert sorted(found) == sorted(["kva", "kvb", "ws1", *unknown])
    # a count given on the command line
    (tmp_path / "t.json").unlink()
    again = _scan(tmp_path, doc, count="3")
    assert {"ws1", "ws3"} <= set(again) and "ws2" not in again
    assert again["ws3"]["properties"]["friendlyName"] == "ws 12"


def test_property_loops(tmp_path: Path) -> None:
    doc = {
        "parameters": {"ips": {"type": "array", "defaultValue": ["10.0.0.0/8", "1.2.3.4"]}},
        "resources": [
            {
                "type": "Microsoft.Storage/storageAccounts",
                "name": "stml",
                "copy": {"name": "outer", "count": 1},
                "properties": {
                    "copy": [
                        {
                            "name": "ipRules",
                            "count": "[length(parameters('ips'))]",
                            "input": {
                                "value": "[parameters('ips')[copyIndex('ipRules')]]",
                                "action": "Allow",
                                "outer": "[copyIndex()]",
                            },
                        },
                        {"name": "later", "count": "[parameters('nope')]", "input": {"a": 1}},
                    ],
                    "supportsHttpsTrafficOnly": True,
                },
            }
        ],
    }
    props = _scan(tmp_path, doc)["stml"]["properties"]
    assert props["ipRules"] == [
        {"value": "10.0.0.0/8", "action": "Allow", "outer": 0},
        {"value": "1.2.3.4", "action": "Allow", "outer": 0},
    ]
    assert props["later"] == [{"a": 1}]
    assert props["supportsHttpsTrafficOnly"] is True
    assert not any(is_unknown(v) for v in props["ipRules"][0].values())


def test_expansion_is_bounded(tmp_path: Path) -> None:
    res = {
        "type": "Microsoft.Storage/storageAccounts",
        "name": "[concat('st', copyIndex())]",
        "copy": {"name": "l", "count": 800},
        "properties": {"copy": [{"name": "ipRules", "count": 800, "input": {"v": 1}}]},
    }
    (tmp_path / "t.json").write_text(
        json.dumps({"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [res] * 80})
    )
    found = collect([tmp_path])
    assert found.resources == ()
    assert [e.message for e in found.errors] == [
        "cannot interpret arm: copy loops expand to more than 50000 resources/elements"
    ]
