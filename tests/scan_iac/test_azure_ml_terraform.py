"""MLSTIX-AZ-ML-004 and MLSTIX-AZ-ML-008 on Terraform as platform teams write it: ``for_each``
over a map of workspaces, private endpoints made per workspace, online endpoints through
``azapi_resource`` (the azurerm provider has no managed online endpoint resource), values from
``tfvars``, conditionals and variables without a default.

Names are the providers' (azurerm ``azurerm_machine_learning_workspace`` with its
``managed_network { isolation_mode }`` block, ``Disabled`` / ``AllowInternetOutbound`` /
``AllowOnlyApprovedOutbound``; ``azurerm_private_endpoint`` with
``private_service_connection { private_connection_resource_id, subresource_names,
is_manual_connection }``; azapi ``type = "<ARM type>@<api-version>"``, ``parent_id``, ``body``).
A value unknown at plan time is neither a pass nor a finding's reason: the resource is not
reported.
"""

from __future__ import annotations

from pathlib import Path

from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import default_registry, evaluate

_MAIN = """
variable "workspaces" {
  type = map(object({ isolation = string, private = bool }))
}

variable "env" {
  type    = string
  default = "dev"
}

variable "scoring_access" {
  type = string # no default: known only at apply
}

variable "isolation_mode" {
  type = string # no default: known only at apply
}

locals {
  subnet = join("/", ["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-net",
  "providers/Microsoft.Network/virtualNetworks/hub/subnets/endpoints"])
  common = {
    location            = "westeurope"
    resource_group_name = "rg-ml"
  }
}

resource "azurerm_machine_learning_workspace" "ws" {
  for_each                      = var.workspaces
  name                          = "mlw-${each.key}"
  location                      = local.common.location
  resource_group_name           = local.common.resource_group_name
  application_insights_id       = "ai"
  key_vault_id                  = "kv"
  storage_account_id            = "st"
  public_network_access_enabled = !each.value.private
  identity {
    type = "SystemAssigned"
  }
  managed_network {
    isolation_mode = each.value.isolation
  }
}

# the isolation mode is a variable without a value: unknown, not reported
resource "azurerm_machine_learning_workspace" "byo" {
  name                    = "mlw-byo"
  location                = local.common.location
  resource_group_name     = local.common.resource_group_name
  application_insights_id = "ai"
  key_vault_id            = "kv"
  storage_account_id      = "st"
  identity {
    type = "SystemAssigned"
  }
  managed_network {
    isolation_mode = var.isolation_mode
  }
}

# the customer-VNet method for the workspaces marked private
resource "azurerm_private_endpoint" "ws" {
  for_each            = { for k, v in var.workspaces : k => v if v.private }
  name                = "pe-mlw-${each.key}"
  location            = local.common.location
  resource_group_name = local.common.resource_group_name
  subnet_id           = local.subnet
  private_service_connection {
    name                           = "mlw-${each.key}"
    private_connection_resource_id = azurerm_machine_learning_workspace.ws[each.key].id
    subresource_names              = ["amlworkspace"]
    is_manual_connection           = false
  }
}

# a private endpoint to the workspace's storage account isolates nothing of the workspace
resource "azurerm_private_endpoint" "blob" {
  name                = "pe-blob"
  location            = local.common.location
  resource_group_name = local.common.resource_group_name
  subnet_id           = local.subnet
  private_service_connection {
    name                           = "blob"
    private_connection_resource_id = azurerm_machine_learning_workspace.ws["research"].id
    subresource_names              = ["blob"]
    is_manual_connection           = false
  }
}

resource "azapi_resource" "endpoint" {
  for_each  = azurerm_machine_learning_workspace.ws
  type      = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2024-04-01"
  name      = "score-${each.key}"
  parent_id = each.value.id
  location  = local.common.location
  body = {
    properties = {
      authMode            = "AADToken"
      publicNetworkAccess = var.env == "prod" ? "Disabled" : "Enabled"
    }
  }
}

resource "azapi_resource" "default_access" {
  type      = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2024-04-01"
  name      = "default-access"
  parent_id = azurerm_machine_learning_workspace.ws["secure"].id
  body = {
    properties = {
      authMode = "AADToken" # publicNetworkAccess not set: Enabled
    }
  }
}

resource "azapi_resource" "unknown_access" {
  type      = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2024-04-01"
  name      = "unknown-access"
  parent_id = azurerm_machine_learning_workspace.ws["secure"].id
  body = {
    properties = {
      authMode            = "AADToken"
      publicNetworkAccess = var.scoring_access
    }
  }
}
"""

_TFVARS = """
workspaces = {
  research = { isolation = "Disabled", private = false }
  shared   = { isolation = "Disabled", private = true }
  secure   = { isolation = "AllowOnlyApprovedOutbound", private = false }
  egress   = { isolation = "AllowInternetOutbound", private = false }
}
"""


def _found(tmp_path: Path, rule_id: str, *, tfvars: str = _TFVARS) -> dict[str, str]:
    (tmp_path / "main.tf").write_text(_MAIN)
    (tmp_path / "terraform.tfvars").write_text(tfvars)
    registry = default_registry()
    scanned = collect([tmp_path])
    assert not scanned.errors, scanned.errors
    findings = evaluate(registry, [registry.get(rule_id)], scanned.resources, None)
    return {str(f.location.resource): f.message for f in findings}


def test_workspace_isolation_per_instance(tmp_path: Path) -> None:
    found = _found(tmp_path, "MLSTIX-AZ-ML-004")
    # research: no managed network, and its only private endpoint is to the blob sub-resource;
    # shared: no managed network but an amlworkspace private endpoint; secure/egress: managed
    assert set(found) == {'azurerm_machine_learning_workspace.ws["research"]'}  # not byo
    assert "managed_network.isolation_mode is Disabled" in next(iter(found.values()))


def test_workspace_isolation_without_a_value_is_not_reported(tmp_path: Path) -> None:
    # var.workspaces has no default and no value: the workspaces' modes are unknown, and the
    # workspace whose mode is var.isolation_mode (no value) is not reported either
    (tmp_path / "main.tf").write_text(_MAIN)
    registry = default_registry()
    scanned = collect([tmp_path])
    assert not scanned.errors, scanned.errors
    assert "azurerm_machine_learning_workspace.byo" in {r.address for r in scanned.resources}
    rules = [registry.get("MLSTIX-AZ-ML-004"), registry.get("MLSTIX-AZ-ML-008")]
    found = evaluate(registry, rules, scanned.resources, None)
    # the endpoints made for each (unknown) workspace are public in every instance (env is
    # "dev" by default): reported once, without an instance key
    assert sorted(str(f.location.resource) for f in found) == [
        "azapi_resource.default_access",
        "azapi_resource.endpoint",
    ]


def test_public_online_endpoints_per_instance(tmp_path: Path) -> None:
    found = _found(tmp_path, "MLSTIX-AZ-ML-008")
    # env = "dev" (its default): every for_each endpoint is public; the endpoint that does not
    # set publicNetworkAccess is public by default; the one set from an unknown variable is not
    # reported
    assert set(found) == {
        'azapi_resource.endpoint["research"]',
        'azapi_resource.endpoint["shared"]',
        'azapi_resource.endpoint["secure"]',
        'azapi_resource.endpoint["egress"]',
        "azapi_resource.default_access",
    }
    assert "(not set; default Enabled)" in found["azapi_resource.default_access"]


def test_public_online_endpoints_follow_the_conditional(tmp_path: Path) -> None:
    found = _found(tmp_path, "MLSTIX-AZ-ML-008", tfvars=_TFVARS + '\nenv = "prod"\n')
    assert set(found) == {"azapi_resource.default_access"}
