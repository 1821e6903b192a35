"""Docker Content Trust on the container registry of an Azure ML workspace (MLSTIX-AZ-ACR-002).

Azure Container Registry documentation ("Transition from Docker Content Trust to the Notary
Project"; "Manage signed images with Docker Content Trust"): DCT deprecation started on
2025-03-31; since 2026-05-31 DCT cannot be enabled on new registries nor on registries that never
enabled it; DCT is removed from ACR on 2028-03-31. Microsoft's replacement is Notary Project
signing: Notation with its Azure Key Vault plug-in (``azure-kv``), verified with ``notation
verify`` or, on AKS, Ratify. A registry that still relies on DCT (ARM
``properties.policies.trustPolicy.status`` ``enabled``; azurerm ``trust_policy_enabled``, or
``trust_policy { enabled }`` before azurerm 4) is flagged. Notation signatures are OCI referrers
stored beside the images, which the registry resource does not show, so a registry without DCT is
not judged here. Only registries an ML workspace uses (``container_registry_id``,
``properties.containerRegistry``) are in scope: the rule judges (:func:`dct_registries`, its
subjects in the report's ``rules_run``) the workspace registries with DCT on, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlstix.scan.iac._values import is_unknown, lookup, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._refs import refers_to
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC", "dct_registries"]

# dialect → (registry type, DCT attribute paths, workspace type, workspace's registry path)
_SHAPES = {
    "terraform": (
        "azurerm_container_registry",
        ("trust_policy_enabled", "trust_policy.enabled"),
        "azurerm_machine_learning_workspace",
        "container_registry_id",
    ),
    "arm": (
        "Microsoft.ContainerRegistry/registries",
        ("properties.policies.trustPolicy.status",),
        "Microsoft.MachineLearningServices/workspaces",
        "properties.containerRegistry",
    ),
}


def _used_by_workspace(ctx: Context, reg: Resource, ws_type: str, path: str) -> bool:
    for ws in ctx.in_scope(reg.scope, reg.dialect, ws_type):
        value = lookup(ws.attributes, path)
        if value is not None and refers_to(value, reg):
            return True
    return False


def _dct_on(ctx: Context) -> list[tuple[Resource, str]]:
    out = []
    for dialect, (reg_type, paths, ws_type, ws_path) in _SHAPES.items():
        for reg in ctx.of_type(dialect, reg_type):
            on = [
                p
                for p in paths
                if not is_unknown(lookup(reg.attributes, p))
                and norm(lookup(reg.attributes, p)) in (True, "enabled")
            ]
            if on and _used_by_workspace(ctx, reg, ws_type, ws_path):
                out.append((reg, on[0]))
    return out


def _memo(ctx: Context) -> list[tuple[Resource, str]]:
    if "acr-dct-on" not in ctx.memo:
        ctx.memo["acr-dct-on"] = _dct_on(ctx)
    found: list[tuple[Resource, str]] = ctx.memo["acr-dct-on"]
    return found


def dct_registries(ctx: Context) -> list[Resource]:
    """The registries the rule judges: those an ML workspace uses that turn DCT on (once a
    scan). A registry without DCT may or may not carry Notation signatures: not judged."""
    return [reg for reg, _ in _memo(ctx)]


def _dct(ctx: Context) -> Iterator[Hit]:
    for reg, attr in _memo(ctx):
        yield Hit(
            reg,
            f"{attr} turns on Docker Content Trust, which Azure Container Registry "
            "deprecated and removes on 2028-03-31: "
            "sign the serving images with Notation (Notary Project, keys in Azure Key "
            "Vault), verify them before deployment, then turn DCT off",
            {
                "attribute": attr,
                "value": "enabled",
                "retired": "2028-03-31",
                "replacement": "Notary Project signing (Notation)",
            },
        )


LOGIC: dict[str, Logic] = {"azure-acr-content-trust": _dct}
