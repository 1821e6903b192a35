"""Which rights a service account's token carries: Kubernetes RBAC bindings and roles, with
aggregated ClusterRoles expanded, for the Kubeflow notebook token rule (MLSTIX-K8S-KF-005).

Semantics (Kubernetes documentation, "Using RBAC Authorization"; the RBAC authorizer,
``plugin/pkg/auth/authorizer/rbac``):

- A ClusterRoleBinding grants its ClusterRole's rules in every namespace and on cluster-scoped
  resources. A RoleBinding grants the rules of its Role, or of the ClusterRole it names, in the
  RoleBinding's own namespace only (cluster-scoped resources and ``nonResourceURLs`` of that
  ClusterRole are not granted).
- A subject matches a service account ``ns/name`` as ``ServiceAccount`` (whose ``namespace``, when
  left out in a RoleBinding, is the RoleBinding's), as the ``User``
  ``system:serviceaccount:ns:name``, or through the groups ``system:serviceaccounts``,
  ``system:serviceaccounts:ns`` and ``system:authenticated``.
- A ClusterRole with an ``aggregationRule`` holds the union of the rules of every ClusterRole a
  ``clusterRoleSelectors`` entry selects (the controller writes them into its ``rules``; a
  manifest says ``rules: []``). Kubeflow's ``kubeflow-edit`` is one (label
  ``rbac.authorization.kubeflow.org/aggregate-to-kubeflow-edit``), as are ``admin``, ``edit`` and
  ``view``. Selection is followed through aggregated roles, cycles cut.
- The default user-facing ClusterRoles (``cluster-admin``, ``admin``, ``edit``, ``view``) are
  known by what they grant when a scan does not hold them (a manifest folder rarely does; a live
  cluster always does); any other role missing from the scan grants unknown rights.

What a rule's verbs and resources let the token do is put in words (:func:`powers`) for the
finding; :func:`runs_pods` says whether it can start a pod (directly or through a workload
controller, or a Kubeflow Notebook), which runs as any service account of the namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._k8s_policy import selects
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac.context import Context

__all__ = [
    "DISCOVERY_ROLES",
    "Grant",
    "Rbac",
    "changes_access",
    "grants_something",
    "powers",
    "runs_pods",
]

# ClusterRoles every cluster binds to all users or all service accounts by default (Kubernetes
# RBAC, "Default roles and role bindings": discovery and self-review only, no object access)
DISCOVERY_ROLES = frozenset(
    {
        "system:basic-user",
        "system:discovery",
        "system:public-info-viewer",
        "system:service-account-issuer-discovery",
    }
)

_MAX_NESTING = 32  # aggregated ClusterRoles followed through at most this many levels
_READ = ("get", "list", "watch")
_WRITE = ("create", "update", "patch", "delete")
_WORKLOADS = {
    "apps": ("deployments", "statefulsets", "daemonsets", "replicasets"),
    "batch": ("jobs", "cronjobs"),
    "": ("pods", "replicationcontrollers"),
    "kubeflow.org": ("notebooks",),
}


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


# What the default user-facing roles grant, summarised as the rules that matter here (Kubernetes
# RBAC, "User-facing roles"): used only when the scan does not hold the role itself.
_WORKLOAD_RULES = [_rule([g], list(rs), [*_READ, *_WRITE]) for g, rs in _WORKLOADS.items()]
_BUILTIN: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": [_rule(["*"], ["*"], ["*"])],
    "admin": [
        *_WORKLOAD_RULES,
        _rule([""], ["secrets", "configmaps", "services"], [*_READ, *_WRITE]),
        _rule([""], ["pods/exec", "pods/attach", "pods/portforward"], ["get", "create"]),
        _rule([""], ["serviceaccounts"], ["impersonate", *_READ, *_WRITE]),
        _rule(["rbac.authorization.k8s.io"], ["roles", "rolebindings"], [*_READ, *_WRITE]),
    ],
    "edit": [
        *_WORKLOAD_RULES,
        _rule([""], ["secrets", "configmaps", "services"], [*_READ, *_WRITE]),
        _rule([""], ["pods/exec", "pods/attach", "pods/portforward"], ["get", "create"]),
        _rule([""], ["serviceaccounts"], ["impersonate", *_READ, *_WRITE]),
    ],
    "view": [
        _rule(
            ["", "apps", "batch"],
            ["pods", "pods/log", "services", "configmaps", "deployments", "jobs"],
            list(_READ),
        )
    ],
}


def _allows(rule: Mapping[str, Any], group: str, resource: str, verbs: Iterable[str]) -> bool:
    groups = [str(g) for g in as_list(rule.get("apiGroups"))]
    resources = [str(r) for r in as_list(rule.get("resources"))]
    have = [str(v) for v in as_list(rule.get("verbs"))]
    return (
        ("*" in groups or group in groups)
        and ("*" in resources or resource in resources)
        and ("*" in have or any(v in have for v in verbs))
    )


def _any(rules: Iterable[Mapping[str, Any]], group: str, resource: str, *verbs: str) -> bool:
    return any(_allows(r, group, resource, verbs) for r in rules)


def runs_pods(rules: Iterable[Mapping[str, Any]]) -> bool:
    """The rules let their holder start a pod: create pods, a workload whose controller makes
    pods, or a Kubeflow Notebook; the pod may name any service account of the namespace."""
    rules = list(rules)
    return any(_any(rules, g, r, "create") for g, rs in _WORKLOADS.items() for r in rs)


def changes_access(rules: Iterable[Mapping[str, Any]]) -> bool:
    """The rules let their holder create or change RoleBindings: give any user, group or
    service account of the cluster rights in the namespace (``admin``, ``cluster-admin`` bound
    by a RoleBinding; not ``edit``)."""
    return _any(
        list(rules), "rbac.authorization.k8s.io", "rolebindings", "create", "update", "patch"
    )


def powers(rules: Iterable[Mapping[str, Any]]) -> list[str]:
    """What the rules let their holder do, in words: the rights that reach other identities or
    data (``*``, secrets, pods and exec, RBAC, impersonation, tokens), else the resources."""
    rules = [r for r in rules if isinstance(r, Mapping) and as_list(r.get("resources"))]
    if any(
        all("*" in as_list(r.get(f)) for f in ("apiGroups", "resources", "verbs")) for r in rules
    ):
        return ["every verb on every resource (*)"]
    out = []
    if _any(rules, "", "secrets", *_READ):
        out.append("read secrets")
    if runs_pods(rules):
        out.append("start pods as any service account of the namespace")
    if _any(rules, "", "pods/exec", "create", "get"):
        out.append("exec into pods")
    for what in ("rolebindings", "clusterrolebindings", "roles", "clusterroles"):
        if _any(rules, "rbac.authorization.k8s.io", what, *_WRITE, "bind", "escalate"):
            out.append(f"change {what}")
    for who in ("users", "groups", "serviceaccounts"):
        if _any(rules, "", who, "impersonate"):
            out.append(f"impersonate {who}")
    if _any(rules, "", "serviceaccounts/token", "create"):
        out.append("create service-account tokens")
    if not out and rules:
        shown = sorted({str(x) for r in rules for x in as_list(r.get("resources"))})
        more = f" and {len(shown) - 6} more" if len(shown) > 6 else ""
        out.append(f"act on {', '.join(shown[:6])}{more}")
    return out


def _labels(r: Resource) -> dict[str, str]:
    labels = lookup(r.attributes, "metadata.labels")
    if not isinstance(labels, Mapping) or is_unknown(labels):
        return {}
    return {str(k): str(v) for k, v in labels.items()}


@dataclass(frozen=True)
class Grant:
    """A role bound to the service account: where its rights hold and what they are."""

    role: str  # "ClusterRole edit", "Role team-a/ci"
    binding: str  # "ClusterRoleBinding ops", "RoleBinding team-b/ops"
    subject: str  # "ServiceAccount team-a/nb", "Group system:serviceaccounts:team-a"
    namespace: str | None  # None: cluster-wide
    rules: tuple[Mapping[str, Any], ...] | None  # None: not in the scan
    aggregated: tuple[str, ...] = ()  # the ClusterRoles an aggregated role gathers

    @property
    def role_name(self) -> str:
        return self.role.split(" ", 1)[1]

    def rights(self) -> list[str]:
        if self.rules is None:
            return ["rights not in the scan"]
        return powers(self.rules)

    def describe(self) -> str:
        via = f", aggregating {', '.join(self.aggregated)}" if self.aggregated else ""
        where = "" if self.namespace is None else f" in namespace {self.namespace}"
        return (
            f"{self.role_name} ({self.binding}, subject {self.subject}{via}){where}: "
            f"{'; '.join(self.rights())}"
        )


class Rbac:
    """The scan's roles and bindings, indexed. A binding whose role or subjects are unknown (a
    Terraform value known only at apply time) grants nothing that can be shown, so it is left
    out: unknown is never reported."""

    def __init__(self, ctx: Context) -> None:
        self._cluster_roles = {r.name: r for r in ctx.of_type("kubernetes", "ClusterRole")}
        self._roles = {
            (str(r.extra.get("namespace")), r.name): r for r in ctx.of_type("kubernetes", "Role")
        }
        self._expanded: dict[str, tuple[list[Mapping[str, Any]] | None, tuple[str, ...]]] = {}
        self._subjects: dict[tuple[str, str, str], list[Grant]] = {}
        for b in ctx.of_type("kubernetes", "ClusterRoleBinding", "RoleBinding"):
            self._index(b)

    def _index(self, b: Resource) -> None:
        kind, role = lookup(b.attributes, "roleRef.kind"), lookup(b.attributes, "roleRef.name")
        subjects = b.attributes.get("subjects")
        if is_unknown(subjects) or is_unknown(role) or is_unknown(kind):
            return
        ns = None if b.type == "ClusterRoleBinding" else str(b.extra.get("namespace") or "default")
        if ns is None and str(role) in DISCOVERY_ROLES:
            return
        rules, aggregated = self._role(str(kind or "ClusterRole"), str(role), ns)
        binding = f"{b.type} {b.name}" if ns is None else f"{b.type} {ns}/{b.name}"
        shown = f"{kind or 'ClusterRole'} {role}" if kind != "Role" else f"Role {ns}/{role}"
        for s in as_list(subjects):
            if not isinstance(s, Mapping):
                continue
            skind, name, sns = s.get("kind"), s.get("name"), s.get("namespace")
            if is_unknown(name) or is_unknown(sns):
                continue
            if skind == "ServiceAccount":
                key = ("ServiceAccount", str(sns or ns or ""), str(name))
                who = f"ServiceAccount {key[1]}/{name}"
            elif skind == "User" and str(name).startswith("system:serviceaccount:"):
                parts = str(name).split(":")
                if len(parts) != 4:
                    continue
                key, who = ("ServiceAccount", parts[2], parts[3]), f"User {name}"
            else:
                key, who = (str(skind), "", str(name)), f"{skind} {name}"
            grant = Grant(shown, binding, who, ns, rules, aggregated)
            self._subjects.setdefault(key, []).append(grant)

    def _role(
        self, kind: str, name: str, namespace: str | None
    ) -> tuple[tuple[Mapping[str, Any], ...] | None, tuple[str, ...]]:
        if kind == "Role":
            role = self._roles.get((str(namespace), name))
            rules = None if role is None else _own_rules(role)
            return (None if rules is None else tuple(rules)), ()
        expanded, sources = self._cluster_role(name, frozenset())
        return (None if expanded is None else tuple(expanded)), sources

    def _cluster_role(
        self, name: str, seen: frozenset[str]
    ) -> tuple[list[Mapping[str, Any]] | None, tuple[str, ...]]:
        if name in self._expanded:
            return self._expanded[name]
        if len(seen) >= _MAX_NESTING:
            return None, ()  # a chain of aggregations this deep is not a real cluster's
        role = self._cluster_roles.get(name)
        if role is None:
            builtin = _BUILTIN.get(name)
            return (None if builtin is None else list(builtin)), ()
        rules = _own_rules(role)
        selectors = lookup(role.attributes, "aggregationRule.clusterRoleSelectors")
        sources: list[str] = []
        if selectors is not None and rules is not None:
            if is_unknown(selectors):
                rules = None
            else:
                matched = False
                for other in sorted(self._cluster_roles.values(), key=lambda r: r.name):
                    if other.name == name or not any(
                        isinstance(sel, Mapping) and selects(sel, _labels(other))
                        for sel in as_list(selectors)
                    ):
                        continue
                    matched = True
                    if other.name in seen:
                        continue  # a cycle: the role on the way here holds the union already
                    more, _ = self._cluster_role(other.name, seen | {name})
                    if more is None:
                        rules = None
                        break
                    rules = [*rules, *more]
                    sources.append(other.name)
                if rules is not None and not matched and not rules and not role.extra.get("live"):
                    # rules: [] in a manifest, nothing in the scan selected: the roles that feed
                    # it are installed elsewhere, so what it grants is unknown
                    rules = None
        result = (rules, tuple(sources))
        self._expanded[name] = result  # a cycle is cut where it closes; the union is the same
        return result

    def grants(self, namespace: str, account: str) -> list[Grant]:
        """Every binding that applies to the service account ``namespace/account``."""
        keys = [
            ("ServiceAccount", namespace, account),
            ("Group", "", "system:serviceaccounts"),
            ("Group", "", f"system:serviceaccounts:{namespace}"),
            ("Group", "", "system:authenticated"),
        ]
        return [g for k in keys for g in self._subjects.get(k, [])]

    def cluster_wide_accounts(self, namespace: str) -> dict[str, list[Grant]]:
        """Service accounts of ``namespace`` that a ClusterRoleBinding names, with its grants
        (those granting nothing known to matter left out)."""
        out: dict[str, list[Grant]] = {}
        for (kind, ns, name), grants in self._subjects.items():
            if kind != "ServiceAccount" or ns != namespace:
                continue
            wide = [g for g in grants if g.namespace is None and grants_something(g)]
            if wide:
                out[name] = wide
        return out


def _own_rules(role: Resource) -> list[Mapping[str, Any]] | None:
    rules = role.attributes.get("rules")
    if is_unknown(rules):
        return None
    out = [r for r in as_list(rules) if isinstance(r, Mapping)]
    return None if any(is_unknown(r) for r in out) else out


def grants_something(grant: Grant) -> bool:
    """The grant lets the token act on some resource (unknown rights count: a binding is made
    to grant something); rules naming only ``nonResourceURLs`` do not count."""
    if grant.rules is None:
        return True
    return any(as_list(r.get("resources")) and as_list(r.get("verbs")) for r in grant.rules)
