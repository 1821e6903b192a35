"""Python rules for Kubeflow: components reachable from outside the cluster, and notebook
servers (``kubeflow.org`` ``Notebook``, API versions v1, v1beta1 and v1alpha1: one shape).

The same functions judge manifests (files, ``helm template`` output, Terraform
``kubernetes_manifest``/``kubectl_manifest``) and the objects ``mlstix assess kubernetes`` reads,
whose API JSON is a manifest.

- ``kubeflow-exposed``: a Kubeflow component that runs code on request, reachable from outside
  the cluster: the Pipelines API (``ml-pipeline``, ports 8888 HTTP / 8887 gRPC: whoever reaches
  it creates runs, that is, pods running any image and command), the Pipelines UI
  (``ml-pipeline-ui``), the central dashboard (``centraldashboard``) or a notebook server: the
  Service the notebook controller makes (``ownerReferences`` kind ``Notebook``) or any Service
  selecting a notebook's pods (the controller labels them ``statefulset: <name>`` and
  ``notebook-name: <name>`` and copies the Notebook's labels). Reachable means a
  ``LoadBalancer`` or ``NodePort`` Service, ``externalIPs``, or an Ingress routing to the Service
  without an authentication annotation. A load balancer limited by ``loadBalancerSourceRanges``
  (none of them ``0.0.0.0/0``) or marked internal by its cloud's annotation is not counted.
- Notebook pod template (``spec.template.spec``, a PodSpec the controller runs as a
  StatefulSet, skipped live as owned):
  ``kubeflow-notebook-privileged``: a privileged container, the node's PID/IPC namespace, a
  ``hostPath`` volume, or the server published on the node (``hostNetwork``, ``hostPort``);
  ``kubeflow-notebook-root``: a container that may run as uid 0;
  ``kubeflow-notebook-limits``: a container without CPU and memory limits, where no LimitRange
  of the namespace gives a default;
  ``kubeflow-notebook-sa-token``: the service-account token is mounted and that service account
  holds rights beyond the notebook's namespace (:mod:`._k8s_rbac`): a ClusterRoleBinding (to it,
  to ``system:serviceaccounts[:<ns>]`` or to ``system:authenticated``; the default discovery
  bindings excepted) of a ClusterRole that grants something (aggregated roles expanded), a
  RoleBinding in another namespace, or, in its own namespace, the right to start pods where
  another service account holds cluster-wide rights (the pod can run as that account), or to
  change its RoleBindings (opening the namespace to anyone). Other rights limited to its own
  namespace are not reported: a Kubeflow profile binds every notebook's ``default-editor`` to
  ``kubeflow-edit`` there, which its users already hold as contributors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._k8s_pod import (
    limit_defaults,
    missing_limits,
    privileged,
    root_user,
    runs_as_root,
    service_account_of,
    service_account_settings,
    token_mounted,
)
from mlstix.scan.rules.iac._k8s_policy import selects
from mlstix.scan.rules.iac._k8s_rbac import Rbac, changes_access, grants_something, runs_pods
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac.context import Context, Hit, Logic
from mlstix.scan.rules.iac.k8s_serving import ingress_backends

__all__ = ["LOGIC", "Notebook", "kubeflow_services", "notebooks"]

_COMPONENTS = {
    "ml-pipeline": "the Kubeflow Pipelines API (it creates runs: pods with any image and command)",
    "ml-pipeline-ui": "the Kubeflow Pipelines UI (it submits runs)",
    "centraldashboard": "the Kubeflow central dashboard",
}
_EXPOSED = ("LoadBalancer", "NodePort")
# annotations that keep a load balancer on the private network (AWS Load Balancer Controller and
# legacy in-tree, GKE, AKS)
_INTERNAL = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "internal",
    "cloud.google.com/load-balancer-type": "internal",
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
}
_INGRESS_AUTH = (
    "nginx.ingress.kubernetes.io/auth-url",
    "nginx.ingress.kubernetes.io/auth-type",
    "traefik.ingress.kubernetes.io/router.middlewares",
    "alb.ingress.kubernetes.io/auth-type",
)


@dataclass(frozen=True)
class Notebook:
    resource: Resource
    pod: Mapping[str, Any]  # spec.template.spec
    labels: Mapping[str, str]  # the labels of its pods
    namespace: str

    def containers(self) -> list[Mapping[str, Any]]:
        return [
            c
            for field in ("initContainers", "containers")
            for c in as_list(self.pod.get(field))
            if isinstance(c, Mapping)
        ]


def notebooks(ctx: Context) -> list[Notebook]:
    """Every ``kubeflow.org`` Notebook of the scan whose pod template is known."""
    if "kubeflow-notebooks" in ctx.memo:
        memo: list[Notebook] = ctx.memo["kubeflow-notebooks"]
        return memo
    out = []
    for nb in ctx.of_type("kubernetes", "Notebook"):
        if not str(nb.attributes.get("apiVersion", "")).startswith("kubeflow.org/"):
            continue
        pod = lookup(nb.attributes, "spec.template.spec")
        if not isinstance(pod, Mapping) or is_unknown(pod):
            continue
        own = lookup(nb.attributes, "metadata.labels")
        labels = {str(k): str(v) for k, v in own.items()} if isinstance(own, Mapping) else {}
        labels.update({"statefulset": nb.name, "notebook-name": nb.name})
        out.append(Notebook(nb, pod, labels, str(nb.extra.get("namespace") or "default")))
    ctx.memo["kubeflow-notebooks"] = out
    return out


def _notebooks_in(ctx: Context, namespace: str) -> list[Notebook]:
    if "kubeflow-notebooks-by-namespace" not in ctx.memo:
        index: dict[str, list[Notebook]] = {}
        for nb in notebooks(ctx):
            index.setdefault(nb.namespace, []).append(nb)
        ctx.memo["kubeflow-notebooks-by-namespace"] = index
    found: list[Notebook] = ctx.memo["kubeflow-notebooks-by-namespace"].get(namespace, [])
    return found


def _component(ctx: Context, svc: Resource) -> str | None:
    meta = svc.attributes.get("metadata") or {}
    spec = svc.attributes.get("spec") or {}
    selector = spec.get("selector") if isinstance(spec, Mapping) else None
    app = selector.get("app") if isinstance(selector, Mapping) else None
    for key in (svc.name, app):
        if isinstance(key, str) and key in _COMPONENTS:
            return _COMPONENTS[key]
    owners = meta.get("ownerReferences") if isinstance(meta, Mapping) else None
    for ref in owners if isinstance(owners, list) else []:
        if (
            isinstance(ref, Mapping)
            and ref.get("kind") == "Notebook"
            and str(ref.get("apiVersion", "")).startswith("kubeflow.org/")
        ):
            return f"the Kubeflow notebook server {ref.get('name')} (Jupyter: it runs code)"
    if isinstance(selector, Mapping) and selector and not is_unknown(selector):
        for nb in _notebooks_in(ctx, str(svc.extra.get("namespace"))):
            if selects({"matchLabels": selector}, nb.labels):
                return f"the Kubeflow notebook server {nb.resource.name} (Jupyter: it runs code)"
    return None


def kubeflow_services(ctx: Context) -> list[Resource]:
    """The Services of Kubeflow components and notebook servers: what ``kubeflow-exposed``
    judges."""
    return [svc for svc in ctx.of_type("kubernetes", "Service") if _component(ctx, svc)]


def _internal(svc: Resource) -> bool:
    annotations = (svc.attributes.get("metadata") or {}).get("annotations") or {}
    spec = svc.attributes.get("spec") or {}
    if any(str(annotations.get(k, "")).lower() == v for k, v in _INTERNAL.items()):
        return True
    ranges = spec.get("loadBalancerSourceRanges") or []
    return bool(ranges) and not any(r in ("0.0.0.0/0", "::/0") for r in ranges)


def _authenticated(ingress: Resource) -> bool:
    annotations = (ingress.attributes.get("metadata") or {}).get("annotations") or {}
    return any(k in annotations for k in _INGRESS_AUTH)


def _kubeflow_exposed(ctx: Context) -> Iterator[Hit]:
    ingresses = [i for i in ctx.of_type("kubernetes", "Ingress") if not _authenticated(i)]
    for svc in ctx.of_type("kubernetes", "Service"):
        what = _component(ctx, svc)
        if what is None:
            continue
        spec = svc.attributes.get("spec") or {}
        reasons = []
        kind = spec.get("type")
        if kind in _EXPOSED and not (kind == "LoadBalancer" and _internal(svc)):
            reasons.append(f"spec.type is {kind}")
        if spec.get("externalIPs"):
            reasons.append(f"spec.externalIPs is {', '.join(map(str, spec['externalIPs']))}")
        ns = svc.extra.get("namespace")
        for ing in ingresses:
            routed = set(ingress_backends(ing.attributes.get("spec")))
            if ing.extra.get("namespace") == ns and svc.name in routed:
                reasons.append(f"Ingress {ing.name} routes to it without an auth annotation")
        if reasons:
            yield Hit(
                svc,
                f"{what} is reachable from outside the cluster ({'; '.join(reasons)})",
                {"attribute": "spec.type", "value": "; ".join(reasons)},
            )


def _true(value: Any) -> bool:
    return not is_unknown(value) and norm(value) is True


def _pod_grants(nb: Notebook) -> tuple[list[str], list[str]]:
    """(reasons the notebook runs privileged on its node, reasons its server is published on
    the node)."""
    privileges: list[str] = []
    exposed: list[str] = []
    for key in ("hostPID", "hostIPC"):
        if _true(nb.pod.get(key)):
            privileges.append(f"{key} is true (it shares the node's {key[4:]} namespace)")
    for v in as_list(nb.pod.get("volumes")):
        if isinstance(v, Mapping) and isinstance(v.get("hostPath"), Mapping):
            path = v["hostPath"].get("path")
            privileges.append(f"volume {v.get('name') or '?'} mounts the node's path {path}")
    if _true(nb.pod.get("hostNetwork")):
        exposed.append("hostNetwork is true: the notebook server listens on the node's addresses")
    for c in nb.containers():
        name = c.get("name") or "?"
        if privileged(c, nb.pod) is True:
            privileges.append(f"container {name}: securityContext.privileged is true")
        for port in as_list(c.get("ports")):
            if (
                isinstance(port, Mapping)
                and port.get("hostPort")
                and not is_unknown(port.get("hostPort"))
            ):
                exposed.append(
                    f"container {name}: port {port.get('containerPort')} is published on "
                    f"the node as hostPort {port['hostPort']}"
                )
    return privileges, exposed


def _notebook_privileged(ctx: Context) -> Iterator[Hit]:
    for nb in notebooks(ctx):
        privileges, exposed = _pod_grants(nb)
        if privileges or exposed:
            reasons = privileges + exposed
            yield Hit(
                nb.resource,
                "the notebook server (Jupyter: it runs any code its users type): "
                + "; ".join(reasons),
                {
                    "attribute": "spec.template.spec",
                    "value": "; ".join(reasons),
                    "privileged": privileges,
                    "node_exposure": exposed,
                },
            )


def _notebook_root(ctx: Context) -> Iterator[Hit]:
    for nb in notebooks(ctx):
        bad = [c for c in nb.containers() if runs_as_root(c, nb.pod)]
        if not bad:
            continue
        names = [str(c.get("name") or "?") for c in bad]
        explicit = [str(c.get("name") or "?") for c in bad if root_user(c, nb.pod)]
        if explicit:
            why = f"runAsUser is 0 for container {', '.join(explicit)}"
        else:
            why = (
                f"container {', '.join(names)}: neither runAsNonRoot: true nor a non-zero "
                "runAsUser on the container or the pod template (the image's user applies)"
            )
        yield Hit(
            nb.resource,
            why,
            {
                "attribute": "spec.template.spec.securityContext.runAsNonRoot",
                "containers": names,
                "explicit_root": explicit,
            },
        )


def _notebook_limits(ctx: Context) -> Iterator[Hit]:
    defaults = limit_defaults(ctx)
    for nb in notebooks(ctx):
        if nb.namespace in defaults and defaults[nb.namespace] is None:
            continue  # a LimitRange whose defaults are unknown: unknown
        given = defaults.get(nb.namespace) or set()
        bad = []
        for c in as_list(nb.pod.get("containers")):
            if not isinstance(c, Mapping):
                continue
            missing = missing_limits(c)
            if missing is not None and missing - given:
                bad.append(f"{c.get('name') or '?'} ({', '.join(sorted(missing - given))})")
        if bad:
            yield Hit(
                nb.resource,
                f"container {', '.join(bad)}: no limit in resources.limits and no LimitRange "
                f"default in namespace {nb.namespace!r}",
                {"attribute": "resources.limits", "containers": bad},
            )


def _notebook_sa_token(ctx: Context) -> Iterator[Hit]:
    rbac = Rbac(ctx)
    accounts = service_account_settings(ctx)
    for nb in notebooks(ctx):
        account = service_account_of(nb.pod)
        mounted, value = token_mounted(nb.pod, nb.namespace, accounts)
        if mounted is not True or is_unknown(account):
            continue
        grants = [g for g in rbac.grants(nb.namespace, str(account)) if grants_something(g)]
        wide = [g for g in grants if g.namespace is None]
        # a RoleBinding whose namespace is known only at apply time cannot be placed
        elsewhere = [
            g
            for g in grants
            if g.namespace not in (None, nb.namespace) and "${" not in str(g.namespace)
        ]
        # rights in its own namespace reach further through another service account of the
        # namespace with cluster-wide rights, which a pod started by the token can run as, or
        # by changing RoleBindings, which opens the namespace to anyone
        pivots: list[str] = []
        own = [g for g in grants if g.namespace == nb.namespace and g.rules is not None]
        if not wide and any(runs_pods(g.rules or ()) for g in own):
            for other, other_grants in rbac.cluster_wide_accounts(nb.namespace).items():
                if other != str(account):
                    roles = ", ".join(g.role_name for g in other_grants)
                    pivots.append(f"{nb.namespace}/{other} (ClusterRole {roles})")
        opens = [g for g in own if not wide and changes_access(g.rules or ())]
        if not (wide or elsewhere or pivots or opens):
            continue
        setting = "not set, default true" if value is None else value
        reasons = []
        if wide:
            reasons.append(
                "cluster-wide rights: ClusterRole " + "; ".join(g.describe() for g in wide)
            )
        if elsewhere:
            reasons.append(
                "rights in other namespaces: " + "; ".join(g.describe() for g in elsewhere)
            )
        if pivots:
            reasons.append(
                f"the right to start pods in {nb.namespace} as service account "
                f"{', '.join(pivots)}, which holds cluster-wide rights"
            )
        if opens:
            reasons.append(
                "the right to change RoleBindings of its namespace, so to give anyone in the "
                "cluster access to it: " + "; ".join(g.describe() for g in opens)
            )
        yield Hit(
            nb.resource,
            f"the pods mount the token of service account {nb.namespace}/{account} "
            f"(automountServiceAccountToken is {setting}), which holds {'; and '.join(reasons)}; "
            "any notebook user can use them",
            {
                "attribute": "spec.template.spec.automountServiceAccountToken",
                "value": value,
                "provider_default": value is None,
                "service_account": f"{nb.namespace}/{account}",
                "cluster_roles": [g.describe() for g in wide],
                "other_namespaces": [g.describe() for g in elsewhere],
                "pivot_accounts": pivots,
                "namespace_rbac": [g.describe() for g in opens],
            },
        )


LOGIC: dict[str, Logic] = {
    "kubeflow-exposed": _kubeflow_exposed,
    "kubeflow-notebook-privileged": _notebook_privileged,
    "kubeflow-notebook-root": _notebook_root,
    "kubeflow-notebook-limits": _notebook_limits,
    "kubeflow-notebook-sa-token": _notebook_sa_token,
}
