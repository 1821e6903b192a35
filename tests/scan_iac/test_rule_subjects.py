"""A Python rule counts as judged only the resources its logic actually judges (``subjects``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import default_registry, evaluate_isolated

from .files import write_tree

_WORKSPACE = """
resource "azurerm_machine_learning_workspace" "ws" {
  name                    = "ws"
  location                = "westeurope"
  resource_group_name     = "rg"
  application_insights_id = "ai"
  key_vault_id            = "kv"
  storage_account_id      = "st"
  container_registry_id   = azurerm_container_registry.acr.id
  identity {
    type = "SystemAssigned"
  }
}
"""


def _registry(dct: str) -> str:
    return f"""
resource "azurerm_container_registry" "acr" {{
  name                = "acmeml"
  resource_group_name = "rg"
  location            = "westeurope"
  sku                 = "Premium"
  {dct}
}}
"""


@pytest.mark.parametrize(
    ("dct", "workspace", "flagged"),
    [
        ("trust_policy_enabled = true", True, True),  # relies on DCT: judged and flagged
        ("", True, False),  # no DCT: Notation signatures are not visible, so not judged
        ("trust_policy_enabled = false", True, False),
        ("trust_policy_enabled = var.dct", True, False),  # unknown: not judged
        ("trust_policy_enabled = true", False, False),  # no ML workspace uses it: out of scope
    ],
)
def test_acr_content_trust_judges_only_workspace_registries_with_dct_on(
    tmp_path: Path, dct: str, workspace: bool, flagged: bool
) -> None:
    tf = _registry(dct) + (_WORKSPACE if workspace else "")
    found = collect([write_tree(tmp_path / "iac", {"main.tf": tf})])
    assert not found.errors, found.errors
    registry = default_registry()
    rule = registry.get("MLSTIX-AZ-ACR-002")
    out = evaluate_isolated(registry, [rule], found.resources, None)
    assert [f.location.resource for f in out.findings] == (
        ["azurerm_container_registry.acr"] if flagged else []
    )
    assert out.ran([rule]) == (["MLSTIX-AZ-ACR-002"] if flagged else [])
    assert out.judged[rule.id] == (1 if flagged else 0)
