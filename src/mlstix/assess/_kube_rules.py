"""Logic of the Kubernetes live-only rules (metadata in ``assess/rules/kubernetes.yaml``).

- ``kubeflow-exposed``: a Kubeflow component that runs code on request, reachable from outside
  the cluster: the Pipelines API (``ml-pipeline``, ports 8888 HTTP / 8887 gRPC: whoever reaches
  it creates runs, that is, pods running any image and command), the Pipelines UI
  (``ml-pipeline-ui``), the central dashboard (``centraldashboard``) or a notebook server's
  Service (owned by a ``kubeflow.org`` ``Notebook``). Reachable means a ``LoadBalancer`` or
  ``NodePort`` Service, ``externalIPs``, or an Ingress routing to the Service without an
  authentication annotation. A load balancer limited by ``loadBalancerSourceRanges`` (none of
  them ``0.0.0.0/0``) or marked internal by its cloud's annotation is not counted. Names and
  labels: the Kubeflow manifests (kubeflow/manifests, ``apps/pipeline``, ``apps/centraldashboard``)
  and the notebook controller (a Service per Notebook, ``ownerReferences`` kind ``Notebook``).
- ``kubeflow-notebook-privileged``: a ``kubeflow.org`` ``Notebook`` whose pod template
  (``spec.template.spec``, a PodSpec; the controller runs it as a StatefulSet, which is skipped as
  owned) runs a privileged container or shares the node's PID/IPC namespace, or publishes the
  server on the node (``hostNetwork``, a container ``hostPort``), outside the cluster's Services,
  NetworkPolicies and the Kubeflow gateway's authentication.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac import Context, Hit, RuleRegistry
from mlstix.scan.rules.iac.k8s_serving import ingress_backends

__all__ = ["register"]

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


def _component(svc: Resource) -> str | None:
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
    return None


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
        what = _component(svc)
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


def _notebook_pod(nb: Resource) -> tuple[list[str], list[str]]:
    """What a Kubeflow ``Notebook``'s pod template (``spec.template.spec``, a PodSpec) grants:
    (reasons it runs privileged, reasons the server is published on the node)."""
    spec = ((nb.attributes.get("spec") or {}).get("template") or {}).get("spec") or {}
    if not isinstance(spec, Mapping):
        return [], []
    privileged: list[str] = []
    exposed: list[str] = []
    for key in ("hostPID", "hostIPC"):
        if spec.get(key) is True:
            privileged.append(f"{key} is true (it shares the node's {key[4:]} namespace)")
    if spec.get("hostNetwork") is True:
        exposed.append("hostNetwork is true: the notebook server listens on the node's addresses")
    for field in ("initContainers", "containers"):
        for c in spec.get(field) or []:
            if not isinstance(c, Mapping):
                continue
            name = c.get("name") or "?"
            sc = c.get("securityContext") or {}
            if isinstance(sc, Mapping) and sc.get("privileged") is True:
                privileged.append(f"container {name}: securityContext.privileged is true")
            for port in c.get("ports") or []:
                if isinstance(port, Mapping) and port.get("hostPort"):
                    exposed.append(
                        f"container {name}: port {port.get('containerPort')} is published on "
                        f"the node as hostPort {port['hostPort']}"
                    )
    return privileged, exposed


def _notebook_privileged(ctx: Context) -> Iterator[Hit]:
    for nb in ctx.of_type("kubernetes", "Notebook"):
        if not str(nb.attributes.get("apiVersion", "")).startswith("kubeflow.org/"):
            continue
        privileged, exposed = _notebook_pod(nb)
        if privileged or exposed:
            reasons = privileged + exposed
            yield Hit(
                nb,
                "the notebook server (Jupyter: it runs any code its users type) "
                + "; ".join(reasons),
                {
                    "attribute": "spec.template.spec",
                    "value": "; ".join(reasons),
                    "privileged": privileged,
                    "node_exposure": exposed,
                },
            )


def register(registry: RuleRegistry) -> None:
    registry.logic_function("kubeflow-exposed")(_kubeflow_exposed)
    registry.logic_function("kubeflow-notebook-privileged")(_notebook_privileged)
