"""What Kubernetes and Istio policies admit to a pod: label selectors, NetworkPolicy ingress
isolation and Istio AuthorizationPolicy gating, shared by the model-server rules.

Semantics (Kubernetes API reference, ``LabelSelector`` and ``NetworkPolicySpec``; Istio
``security.istio.io/v1`` AuthorizationPolicy): an empty selector selects everything, a missing
``policyTypes`` means ``Ingress``, an ingress rule without ``from`` admits every source; an
AuthorizationPolicy of the root namespace (``istio-system``) applies mesh-wide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import as_list

__all__ = ["ingress_restricted", "istio_gated", "selects"]


def selects(selector: Any, labels: Mapping[str, str]) -> bool:
    """A label selector (``matchLabels``/``matchExpressions``) selects these labels."""
    if not isinstance(selector, Mapping):
        return selector is None
    match = selector.get("matchLabels") or {}
    if any(labels.get(k) != str(v) for k, v in match.items()):
        return False
    for expr in as_list(selector.get("matchExpressions")):
        if not isinstance(expr, Mapping):
            continue
        key, op, values = expr.get("key"), expr.get("operator"), as_list(expr.get("values"))
        present = key in labels
        if op == "In" and labels.get(str(key)) not in values:
            return False
        if op == "NotIn" and labels.get(str(key)) in values:
            return False
        if (op == "Exists") != present and op in ("Exists", "DoesNotExist"):
            return False
    return True


def ingress_restricted(
    policies: Iterable[Resource], namespace: str, labels: Mapping[str, str]
) -> bool:
    """A NetworkPolicy of the namespace selects these pod labels, is of type Ingress and has no
    rule that admits every source."""
    for p in policies:
        if p.extra["namespace"] != namespace:
            continue
        spec = p.attributes.get("spec") or {}
        types = as_list(spec.get("policyTypes")) or ["Ingress"]
        # an ingress rule without ``from`` admits every source: it restricts nothing
        open_rule = any(
            not (isinstance(r, Mapping) and r.get("from")) for r in as_list(spec.get("ingress"))
        )
        if "Ingress" in types and not open_rule and selects(spec.get("podSelector") or {}, labels):
            return True
    return False


def istio_gated(policies: Iterable[Resource], namespace: str, labels: Mapping[str, str]) -> bool:
    """An Istio AuthorizationPolicy of the namespace or of the root namespace (istio-system:
    mesh-wide) selects these labels and passes only requests with a source or condition: CUSTOM
    (an external authorizer), or ALLOW whose every rule has ``from``/``when`` (no rules: allow
    nothing). DENY and AUDIT pass whatever they do not match."""
    for p in policies:
        spec = p.attributes.get("spec") or {}
        if p.extra["namespace"] not in (namespace, "istio-system") or not isinstance(spec, Mapping):
            continue
        action, rules = str(spec.get("action") or "ALLOW").upper(), as_list(spec.get("rules"))
        gated = action == "CUSTOM" or (
            action == "ALLOW"
            and all(isinstance(r, Mapping) and (r.get("from") or r.get("when")) for r in rules)
        )
        if gated and selects(spec.get("selector") or {}, labels):
            return True
    return False
