"""Every automated rule mlstix has, read from the live registries, with the platform it judges.

The benchmark's controls name rules by id; this is where those ids are resolved. The catalog is
read from the registries themselves (``scan/rules/models.yaml``, the IaC registry, the assessment's
live-only registry when that package is present), never from a copy, so a rule added to a
scanner shows up here and the "every rule belongs to a control" test sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

__all__ = ["CatalogRule", "rule_catalog"]


@dataclass(frozen=True)
class CatalogRule:
    id: str
    platform: str  # aws | azure | gcp | kubernetes | any (model files)
    command: str  # the mlstix command whose JSON report carries its results
    title: str = ""  # what it checks, as its registry says


@cache
def rule_catalog() -> dict[str, CatalogRule]:
    """Rule id -> where it comes from and the platform it judges."""
    from mlstix.scan.rules import load_rules
    from mlstix.scan.rules.iac import default_registry

    rules = [
        CatalogRule(r.id, "any", "mlstix scan models", " ".join(r.check.split()))
        for r in load_rules("models").rules
    ]
    rules += [CatalogRule(r.id, r.cloud, "mlstix scan iac", r.title) for r in default_registry()]
    try:
        from mlstix.assess._rules import live_registry
    except ImportError:  # an installation without the assessment package
        pass
    else:
        rules += [CatalogRule(r.id, r.cloud, "mlstix assess", r.title) for r in live_registry()]
    return {r.id: r for r in rules}
