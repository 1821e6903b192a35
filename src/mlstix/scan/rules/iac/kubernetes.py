"""Python rules for Kubernetes model servers.

A model server is a KServe ``InferenceService`` / ``ServingRuntime`` /
``ClusterServingRuntime``, a Seldon ``SeldonDeployment``, or a workload (Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod) running a model-server image. Defaults
(Kubernetes API reference): ``privileged`` false; without ``runAsNonRoot``/``runAsUser`` the
image's user applies, which is root unless the image says otherwise; ``readOnlyRootFilesystem``
false; ``automountServiceAccountToken`` true (pod, else its ServiceAccount); no limits; with no
NetworkPolicy selecting a pod all ingress is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlstix.scan.iac._values import lookup, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._k8s_pod import (
    limit_defaults,
    missing_limits,
    privileged,
    runs_as_root,
    service_account_settings,
    token_mounted,
    writable_rootfs,
)
from mlstix.scan.rules.iac._k8s_policy import ingress_restricted, istio_gated, selects
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = [
    "LOGIC",
    "SERVER_IMAGE",
    "Server",
    "containers_of",
    "is_server_image",
    "selects",
    "servers",
]

SERVER_IMAGE = re.compile(
    r"(?i)(kserve|tritonserver|triton-inference|tensorflow/serving|tensorflow-serving|torchserve"
    r"|vllm|text-generation-inference|seldon|mlserver|bentoml|rayproject/ray|(^|/)ray(-ml)?:"
    r"|ollama|openvino/model_server|huggingface/text-embeddings-inference)"
)
_WORKLOADS = {
    "Deployment": "spec.template",
    "StatefulSet": "spec.template",
    "DaemonSet": "spec.template",
    "ReplicaSet": "spec.template",
    "Job": "spec.template",
    "CronJob": "spec.jobTemplate.spec.template",
}
_RUNTIMES = ("ServingRuntime", "ClusterServingRuntime")
_KSERVE_COMPONENTS = ("predictor", "transformer", "explainer")
_AUTH_ANNOTATIONS = ("serving.kserve.io/enable-auth", "security.opendatahub.io/enable-auth")
# KServe's own label (constants.NetworkVisibility) and Knative's, which a Serverless
# InferenceService passes on to its Knative Service (constants.VisibilityLabel)
_VISIBILITY_LABELS = ("networking.kserve.io/visibility", "networking.knative.dev/visibility")
_INGRESS_AUTH = (
    "nginx.ingress.kubernetes.io/auth-url",
    "nginx.ingress.kubernetes.io/auth-type",
    "traefik.ingress.kubernetes.io/router.middlewares",
)


@dataclass(frozen=True)
class Server:
    resource: Resource
    pods: tuple[Mapping[str, Any], ...]  # pod specs (or KServe components, which embed one)
    containers: tuple[Mapping[str, Any], ...]
    labels: Mapping[str, str]
    namespace: str


def _containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    out = [c for c in as_list(pod.get("containers")) if isinstance(c, Mapping)]
    for key, value in pod.items():  # KServe: model / sklearn / pytorch ... container specs
        if (
            key not in ("containers", "initContainers")
            and isinstance(value, Mapping)
            and ("modelFormat" in value or "storageUri" in value or "image" in value)
        ):
            out.append(value)
    return out


# Triton's "-sdk" images hold the client tools (perf_analyzer, genai-perf), not the server
_CLIENT_IMAGE = re.compile(r"(?i)tritonserver:[\w.-]*-sdk(?:@|$)")


# a model server started from a generic image: pip install vllm && vllm serve ...
_SERVER_COMMAND = re.compile(
    r"(?i)vllm(\s+serve\b|\.entrypoints\.openai)|text-generation-launcher|\btritonserver\b"
    r"|\btorchserve\b|tensorflow_model_server|mlserver\s+start|\bserve\s+run\b"
)


def _command(c: Mapping[str, Any]) -> str:
    parts = [*as_list(c.get("command")), *as_list(c.get("args"))]
    return " ".join(str(p) for p in parts if isinstance(p, str | int | float))


def is_server_image(image: str) -> bool:
    return SERVER_IMAGE.search(image) is not None and _CLIENT_IMAGE.search(image) is None


def containers_of(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The containers of a pod spec (KServe components: their model container too)."""
    return _containers(pod)


def servers(ctx: Context) -> list[Server]:
    """Every model server of the scan (computed once per scan, shared by the rules)."""
    if "k8s-servers" not in ctx.memo:
        ctx.memo["k8s-servers"] = list(_servers(ctx))
    found: list[Server] = ctx.memo["k8s-servers"]
    return found


def _servers(ctx: Context) -> Iterator[Server]:
    for r in ctx.of_type("kubernetes", *_WORKLOADS, "Pod"):
        tpl = r.attributes if r.type == "Pod" else lookup(r.attributes, _WORKLOADS[r.type])
        if not isinstance(tpl, Mapping):
            continue
        pod = tpl.get("spec")
        if not isinstance(pod, Mapping):
            continue
        containers = _containers(pod)
        if not any(
            is_server_image(str(c.get("image", ""))) or _SERVER_COMMAND.search(_command(c))
            for c in containers
        ):
            continue
        labels = lookup(tpl, "metadata.labels") or {}
        yield Server(r, (pod,), tuple(containers), dict(labels), r.extra["namespace"])
    for r in ctx.of_type("kubernetes", "InferenceService"):
        spec = r.attributes.get("spec") or {}
        comps = [spec[k] for k in _KSERVE_COMPONENTS if isinstance(spec.get(k), Mapping)]
        labels = {
            **(lookup(r.attributes, "metadata.labels") or {}),
            "serving.kserve.io/inferenceservice": r.name,
        }
        isvc_containers = tuple(c for comp in comps for c in _containers(comp))
        yield Server(r, tuple(comps), isvc_containers, labels, r.extra["namespace"])
    for r in ctx.of_type("kubernetes", "ServingRuntime", "ClusterServingRuntime"):
        spec = r.attributes.get("spec") or {}
        yield Server(r, (spec,), tuple(_containers(spec)), {}, r.extra["namespace"])
    for r in ctx.of_type("kubernetes", "SeldonDeployment"):
        pods: list[Mapping[str, Any]] = [
            cs["spec"]
            for p in as_list(lookup(r.attributes, "spec.predictors"))
            if isinstance(p, Mapping)
            for cs in as_list(p.get("componentSpecs"))
            if isinstance(cs, Mapping) and isinstance(cs.get("spec"), Mapping)
        ]
        labels = {"seldon-deployment-id": r.name}
        seldon_containers = tuple(c for pod in pods for c in _containers(pod))
        yield Server(r, tuple(pods), seldon_containers, labels, r.extra["namespace"])
    for r in ctx.of_type("kubernetes", "RayCluster", "RayService"):
        spec = r.attributes.get("spec") or {}
        if r.type == "RayService":
            spec = spec.get("rayClusterConfig") or {} if isinstance(spec, Mapping) else {}
        if not isinstance(spec, Mapping):
            continue
        groups = [spec.get("headGroupSpec"), *as_list(spec.get("workerGroupSpecs"))]
        templates = [g.get("template") for g in groups if isinstance(g, Mapping)]
        ray_pods = [
            t["spec"]
            for t in templates
            if isinstance(t, Mapping) and isinstance(t.get("spec"), Mapping)
        ]
        head = templates[0] if templates and isinstance(templates[0], Mapping) else {}
        labels = dict(lookup(head, "metadata.labels") or {})
        if r.type == "RayCluster":  # KubeRay labels every pod with its cluster's name
            labels["ray.io/cluster"] = r.name
        ray_containers = tuple(c for pod in ray_pods for c in _containers(pod))
        yield Server(r, tuple(ray_pods), ray_containers, labels, r.extra["namespace"])


def _per_container(check: Any, detail: str, attr: str) -> Any:
    def logic(ctx: Context) -> Iterator[Hit]:
        for s in servers(ctx):
            # each container against its own pod (KServe predictor / transformer / explainer and
            # Seldon componentSpecs are separate pods with their own securityContext)
            bad = [
                str(c.get("name", "model"))
                for pod in s.pods
                for c in _containers(pod)
                if check(c, pod) is True
            ]
            if bad:
                yield Hit(
                    s.resource,
                    f"container {', '.join(bad)}: {detail}",
                    {"attribute": attr, "containers": bad},
                )

    return logic


def _limits(ctx: Context) -> Iterator[Hit]:
    """Containers without a CPU or memory limit that no LimitRange of the namespace supplies."""
    defaults = limit_defaults(ctx)
    for s in servers(ctx):
        if s.namespace in defaults and defaults[s.namespace] is None:
            continue  # a LimitRange whose defaults are unknown
        given = defaults.get(s.namespace) or set()
        bad = []
        for pod in s.pods:
            for c in _containers(pod):
                missing = missing_limits(c)
                if missing is not None and missing - given:
                    bad.append(str(c.get("name", "model")))
        if bad:
            yield Hit(
                s.resource,
                f"container {', '.join(bad)}: resources.limits lacks cpu or memory",
                {"attribute": "resources.limits", "containers": bad},
            )


def _host_path(ctx: Context) -> Iterator[Hit]:
    for s in servers(ctx):
        paths = [
            str(v.get("name"))
            for pod in s.pods
            for v in as_list(pod.get("volumes"))
            if isinstance(v, Mapping) and v.get("hostPath") is not None
        ]
        if paths:
            yield Hit(
                s.resource,
                f"hostPath volume {', '.join(paths)}",
                {"attribute": "volumes.hostPath", "value": ", ".join(paths)},
            )


def _sa_token(ctx: Context) -> Iterator[Hit]:
    accounts = service_account_settings(ctx)
    for s in servers(ctx):
        if s.resource.type in _RUNTIMES:
            # ServingRuntimePodSpec has no automountServiceAccountToken nor serviceAccountName:
            # the InferenceService that uses the runtime decides, and is checked itself
            continue
        for pod in s.pods or ({},):
            mounted, value = token_mounted(pod, s.namespace, accounts)
            if mounted is True:
                yield Hit(
                    s.resource,
                    "automountServiceAccountToken is not false (default true)",
                    {
                        "attribute": "automountServiceAccountToken",
                        "value": value,
                        "provider_default": value is None,
                    },
                )
                break


def _network_policy(ctx: Context) -> Iterator[Hit]:
    policies = ctx.of_type("kubernetes", "NetworkPolicy")
    for s in servers(ctx):
        if s.resource.type in _RUNTIMES:
            continue  # a template for KServe, not a running endpoint
        covered = ingress_restricted(policies, s.namespace, s.labels)
        if not covered:
            yield Hit(
                s.resource,
                f"no NetworkPolicy in namespace {s.namespace!r} restricts ingress to it",
                {"attribute": "NetworkPolicy", "value": None},
            )


def _authorized(ctx: Context, s: Server) -> bool:
    return istio_gated(ctx.of_type("kubernetes", "AuthorizationPolicy"), s.namespace, s.labels)


def _no_auth(ctx: Context) -> Iterator[Hit]:
    services = ctx.of_type("kubernetes", "Service")
    ingresses = ctx.of_type("kubernetes", "Ingress")
    for s in servers(ctx):
        r = s.resource
        meta_annotations = lookup(r.attributes, "metadata.annotations") or {}
        labels = lookup(r.attributes, "metadata.labels") or {}
        if r.type in _RUNTIMES or _authorized(ctx, s):
            continue
        if r.type in ("InferenceService", "SeldonDeployment"):
            if any(norm(meta_annotations.get(a)) is True for a in _AUTH_ANNOTATIONS):
                continue
            if any(labels.get(k) == "cluster-local" for k in _VISIBILITY_LABELS):
                continue
            yield Hit(
                r,
                "no auth annotation, no Istio AuthorizationPolicy, and not cluster-local",
                {"attribute": "metadata.annotations", "value": None},
            )
            continue
        exposed = []
        for svc in services:
            spec = svc.attributes.get("spec") or {}
            selector = spec.get("selector")
            if svc.extra["namespace"] != s.namespace or not isinstance(selector, Mapping):
                continue
            if not selector or not selects({"matchLabels": selector}, s.labels):
                continue
            if spec.get("type") in ("LoadBalancer", "NodePort"):
                exposed.append(f"Service {svc.name} ({spec.get('type')})")
            for ing in ingresses:
                ann = lookup(ing.attributes, "metadata.annotations") or {}
                if ing.extra["namespace"] == s.namespace and any(a in ann for a in _INGRESS_AUTH):
                    continue
                if ing.extra["namespace"] == s.namespace and re.search(
                    rf"'name': '{re.escape(svc.name)}'", str(ing.attributes.get("spec"))
                ):
                    exposed.append(f"Ingress {ing.name}")
        if exposed:
            yield Hit(
                r,
                f"exposed through {', '.join(exposed)} with no authentication in front",
                {"attribute": "exposure", "value": ", ".join(exposed)},
            )


LOGIC: dict[str, Logic] = {
    "k8s-privileged": (
        _per_container(
            privileged, "securityContext.privileged is true", "securityContext.privileged"
        )
    ),
    "k8s-root": (
        _per_container(
            runs_as_root,
            "neither runAsNonRoot: true nor a non-zero runAsUser",
            "securityContext.runAsNonRoot",
        )
    ),
    "k8s-writable-rootfs": (
        _per_container(
            writable_rootfs,
            "readOnlyRootFilesystem is not true (default false)",
            "securityContext.readOnlyRootFilesystem",
        )
    ),
    "k8s-limits": _limits,
    "k8s-host-path": _host_path,
    "k8s-sa-token": _sa_token,
    "k8s-network-policy": _network_policy,
    "k8s-no-auth": _no_auth,
}
