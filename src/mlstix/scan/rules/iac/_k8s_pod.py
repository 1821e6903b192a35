"""Pod-security predicates over a PodSpec and one of its containers, shared by the model-server
rules (:mod:`.kubernetes`) and the Kubeflow notebook rules (:mod:`.kubeflow`).

Defaults (Kubernetes API reference, ``PodSpec``/``SecurityContext``/``PodSecurityContext``):
``privileged`` false; a container's ``runAsUser``/``runAsNonRoot`` override the pod's, and
without either the image's user applies (root unless the image says otherwise);
``readOnlyRootFilesystem`` false; no limits unless a LimitRange gives defaults;
``automountServiceAccountToken`` true (the pod's setting, else its ServiceAccount's).

Each predicate answers True (insecure), False (secure) or None: a value the configuration
leaves unknown (a Terraform variable without a default, an unrendered template part) decides
the answer, which is then neither a pass nor a finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup, norm
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac.context import Context

__all__ = [
    "lacks_limits",
    "limit_defaults",
    "missing_limits",
    "privileged",
    "root_user",
    "runs_as_root",
    "service_account_of",
    "service_account_settings",
    "token_mounted",
    "writable_rootfs",
]


def _sc(obj: Mapping[str, Any], key: str) -> Any:
    sc = obj.get("securityContext")
    if is_unknown(sc):
        return sc  # the whole securityContext is unknown at plan time: so is every field
    return sc.get(key) if isinstance(sc, Mapping) else None


def privileged(c: Mapping[str, Any], pod: Mapping[str, Any]) -> bool | None:
    """``securityContext.privileged`` is true (default false)."""
    value = _sc(c, "privileged")
    return None if is_unknown(value) else norm(value) is True


def runs_as_root(c: Mapping[str, Any], pod: Mapping[str, Any]) -> bool | None:
    """The container may run as uid 0: its ``runAsUser`` (else the pod's) is 0, or neither a
    non-zero ``runAsUser`` nor ``runAsNonRoot: true`` is set (the image's user then applies,
    root unless the image says otherwise; the "restricted" Pod Security Standard wants
    ``runAsNonRoot: true``). The container's settings override the pod's."""
    user = _sc(c, "runAsUser")
    if user is None:
        user = _sc(pod, "runAsUser")
    non_root = _sc(c, "runAsNonRoot")
    if non_root is None:
        non_root = _sc(pod, "runAsNonRoot")
    if isinstance(user, int) and not isinstance(user, bool):
        return user == 0
    if is_unknown(user) or is_unknown(non_root):
        return None
    return norm(non_root) is not True


def root_user(c: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """The effective ``runAsUser`` is 0 (explicitly root)."""
    user = _sc(c, "runAsUser")
    if user is None:
        user = _sc(pod, "runAsUser")
    return isinstance(user, int) and not isinstance(user, bool) and user == 0


def writable_rootfs(c: Mapping[str, Any], pod: Mapping[str, Any]) -> bool | None:
    value = _sc(c, "readOnlyRootFilesystem")
    return None if is_unknown(value) else norm(value) is not True


def missing_limits(c: Mapping[str, Any]) -> set[str] | None:
    """Which of ``cpu`` and ``memory`` the container's ``resources.limits`` lacks (None:
    unknown)."""
    limits = lookup(c, "resources.limits")
    if is_unknown(limits):
        return None
    have = set(limits) if isinstance(limits, Mapping) else set()
    return {"cpu", "memory"} - have


def lacks_limits(c: Mapping[str, Any], pod: Mapping[str, Any]) -> bool | None:
    """``resources.limits`` lacks ``cpu`` or ``memory`` (no default unless a LimitRange sets
    one)."""
    missing = missing_limits(c)
    return None if missing is None else bool(missing)


def service_account_settings(ctx: Context) -> dict[tuple[str, str], Any]:
    """``automountServiceAccountToken`` of every ServiceAccount, by (namespace, name)."""
    return {
        (r.extra["namespace"], r.name): r.attributes.get("automountServiceAccountToken")
        for r in ctx.of_type("kubernetes", "ServiceAccount")
    }


def service_account_of(pod: Mapping[str, Any]) -> Any:
    """The pod's service account (``serviceAccountName``, the deprecated ``serviceAccount``,
    else ``default``); unknown when the configuration leaves it unknown."""
    name = pod.get("serviceAccountName") or pod.get("serviceAccount")
    return name if is_unknown(name) else str(name or "default")


def token_mounted(
    pod: Mapping[str, Any], namespace: str, accounts: Mapping[tuple[str, str], Any]
) -> tuple[bool | None, Any]:
    """Whether the pod gets its service-account token (the pod's setting, else its
    ServiceAccount's, default true), and the deciding value (None: the default)."""
    value = pod.get("automountServiceAccountToken")
    if value is None:
        sa = service_account_of(pod)
        value = None if is_unknown(sa) else accounts.get((namespace, sa))
        if is_unknown(sa):
            return None, sa
    if is_unknown(value):
        return None, value
    return norm(value) is not False, value


def limit_defaults(ctx: Context) -> dict[str, set[str] | None]:
    """Per namespace, the resources a LimitRange gives containers a default limit for (None:
    a LimitRange whose defaults are unknown)."""
    out: dict[str, set[str] | None] = {}
    for lr in ctx.of_type("kubernetes", "LimitRange"):
        ns = str(lr.extra.get("namespace") or "default")
        for item in as_list(lookup(lr.attributes, "spec.limits")):
            if not isinstance(item, Mapping) or item.get("type") != "Container":
                continue
            default = item.get("default")
            if is_unknown(default) or is_unknown(item):
                out[ns] = None
            elif isinstance(default, Mapping) and out.get(ns, set()) is not None:
                known = out.setdefault(ns, set())
                if known is not None:
                    known.update(str(k) for k in default)
    return out
