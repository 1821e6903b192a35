"""Python rules for what model servers on Kubernetes run and expose, beyond their pods' security:

- model downloads over plain HTTP: KServe ``storageUri``, Seldon ``modelUri`` (v1 graphs) and
  ``Model.spec.storageUri`` (Seldon Core 2), ``STORAGE_URI``/``MODEL_URI`` environment values,
  TorchServe ``--models name=http://...``;
- Ray (KubeRay ``RayCluster``/``RayService``, API ray.io/v1): a head service of type
  ``LoadBalancer``/``NodePort`` (``headGroupSpec.serviceType``), ``enableIngress``, or a Service
  exposing the head's dashboard/Jobs API (8265), client (10001) or GCS (6379) ports. Ray has no
  authentication: its Jobs API runs code for anyone who reaches it;
- management APIs: TorchServe's management API (8081) and Triton with
  ``--model-control-mode=explicit`` (its repository API loads and unloads models) behind a
  ``LoadBalancer``/``NodePort`` Service or an Ingress;
- vLLM and text-generation-inference: ``--trust-remote-code`` (TGI also ``TRUST_REMOTE_CODE``;
  KServe's Hugging Face runtime ``--trust_remote_code``) runs Python from the model repository;
  no ``--api-key`` (vLLM ``VLLM_API_KEY``, TGI ``API_KEY``) leaves the OpenAI-compatible API
  open to anyone who reaches it;
- serving images referenced by a mutable tag (``:latest``, no tag) instead of a digest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac.context import Context, Hit, Logic
from mlstix.scan.rules.iac.kubernetes import Server, is_server_image, selects, servers

__all__ = ["LOGIC"]

_URI_KEYS = frozenset({"storageUri", "modelUri", "storage_uri", "model_uri"})
_URI_ENV = frozenset({"STORAGE_URI", "MODEL_URI", "MODEL_URL"})
_MODEL_KINDS = ("InferenceService", "SeldonDeployment", "Model", "InferenceGraph", "TrainedModel")
_EXPOSED = ("LoadBalancer", "NodePort")
_RAY_PORTS = {8265: "dashboard and Jobs API", 10001: "Ray client", 6379: "GCS"}
_TORCHSERVE_MANAGEMENT = 8081


def _walk_uris(value: Any, depth: int = 0) -> Iterator[tuple[str, str]]:
    """(key, value) of every model URI in a manifest subtree."""
    if depth > 40:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in _URI_KEYS and isinstance(item, str):
                yield str(key), item
            elif key == "env":
                for env in as_list(item):
                    if (
                        isinstance(env, Mapping)
                        and env.get("name") in _URI_ENV
                        and isinstance(env.get("value"), str)
                    ):
                        yield f"env {env['name']}", env["value"]
            else:
                yield from _walk_uris(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_uris(item, depth + 1)


def _cmdline(container: Mapping[str, Any]) -> str:
    parts = [*as_list(container.get("command")), *as_list(container.get("args"))]
    return " ".join(str(p) for p in parts if isinstance(p, str | int | float))


def _env(container: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for env in as_list(container.get("env")):
        if isinstance(env, Mapping) and isinstance(env.get("name"), str):
            out[env["name"]] = env.get("value") if "value" in env else _FROM_REF
    return out


_FROM_REF = object()  # an env value from a Secret or ConfigMap: set, not shown


def _http_downloads(ctx: Context) -> Iterator[Hit]:
    by_resource = {id(s.resource): s for s in servers(ctx)}
    candidates: dict[int, Resource] = {id(r): r for r in ctx.of_type("kubernetes", *_MODEL_KINDS)}
    candidates.update((key, s.resource) for key, s in by_resource.items())
    for key, r in candidates.items():
        bad = [
            f"{key} {uri}"
            for key, uri in _walk_uris(r.attributes.get("spec"))
            if uri.lower().startswith("http://")
        ]
        server = by_resource.get(key)
        if server is not None:
            for c in server.containers:
                m = re.search(r"--models\s+(?:\S+=)?(http://\S+)", _cmdline(c))
                if m and "torchserve" in _cmdline(c) + str(c.get("image", "")):
                    bad.append(f"torchserve --models {m.group(1)}")
        if bad:
            yield Hit(
                r,
                f"model downloaded over plain HTTP ({'; '.join(bad)}): anyone on the path can "
                "read or replace it",
                {"attribute": bad[0].split(" ", 1)[0], "value": bad[0].split(" ", 1)[-1]},
            )


def _services_exposing(ctx: Context, s: Server) -> Iterator[tuple[Resource, list[Any]]]:
    """Services of the server's namespace that select its pods and are reachable from outside
    the cluster, with the ports they expose."""
    for svc in ctx.of_type("kubernetes", "Service"):
        spec = svc.attributes.get("spec") or {}
        selector = spec.get("selector") if isinstance(spec, Mapping) else None
        if svc.extra["namespace"] != s.namespace or not isinstance(selector, Mapping):
            continue
        if not selector or not selects({"matchLabels": selector}, s.labels):
            continue
        if spec.get("type") in _EXPOSED:
            yield svc, as_list(spec.get("ports"))


def _ingress_backends(ctx: Context, namespace: str) -> set[str]:
    names: set[str] = set()
    for ing in ctx.of_type("kubernetes", "Ingress"):
        if ing.extra["namespace"] != namespace:
            continue
        for path in ingress_backends(ing.attributes.get("spec")):
            names.add(path)
    return names


def ingress_backends(value: Any, depth: int = 0) -> Iterator[str]:
    """Names of the Services an Ingress spec (any part of it) routes to."""
    if depth > 20:
        return
    if isinstance(value, Mapping):
        svc = value.get("service")
        if isinstance(svc, Mapping) and isinstance(svc.get("name"), str):
            yield svc["name"]
        for item in value.values():
            yield from ingress_backends(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from ingress_backends(item, depth + 1)


def _port_numbers(ports: list[Any]) -> set[Any]:
    out: set[Any] = set()
    for p in ports:
        if isinstance(p, Mapping):
            out.update(v for v in (p.get("port"), p.get("targetPort")) if v is not None)
    return out


def _ray_exposed(ctx: Context) -> Iterator[Hit]:
    for s in servers(ctx):
        r = s.resource
        if r.type not in ("RayCluster", "RayService"):
            continue
        spec = r.attributes.get("spec") or {}
        cluster = spec.get("rayClusterConfig") if r.type == "RayService" else spec
        head = lookup(cluster, "headGroupSpec") if isinstance(cluster, Mapping) else None
        reasons: list[str] = []
        if isinstance(head, Mapping):
            kind = head.get("serviceType")
            if kind in _EXPOSED:
                reasons.append(f"headGroupSpec.serviceType is {kind}")
            if norm(head.get("enableIngress")) is True:
                reasons.append("headGroupSpec.enableIngress is true")
        head_labels = {**s.labels, "ray.io/node-type": "head"}
        head_server = Server(r, s.pods, s.containers, head_labels, s.namespace)
        for svc, ports in _services_exposing(ctx, head_server):
            numbers = _port_numbers(ports)
            open_ports = [f"{p} ({name})" for p, name in _RAY_PORTS.items() if p in numbers]
            if open_ports or not numbers:
                reasons.append(f"Service {svc.name} exposes {', '.join(open_ports) or 'it'}")
        if reasons:
            yield Hit(
                r,
                f"Ray head reachable from outside the cluster ({'; '.join(reasons)}); Ray has "
                "no authentication and its Jobs API runs submitted code",
                {"attribute": "headGroupSpec.serviceType", "value": "; ".join(reasons)},
            )


def _management_api(ctx: Context) -> Iterator[Hit]:
    for s in servers(ctx):
        kinds: list[str] = []
        for c in s.containers:
            text = f"{c.get('image', '')} {_cmdline(c)}"
            if "torchserve" in text.lower():
                kinds.append("torchserve")
            if "tritonserver" in text and re.search(
                r"--model-control-mode[= ](explicit|poll)", text
            ):
                kinds.append("triton")
        if not kinds:
            continue
        backends = _ingress_backends(ctx, s.namespace)
        reasons: list[str] = []
        for svc, ports in _services_exposing(ctx, s):
            numbers = _port_numbers(ports)
            if "triton" in kinds:
                reasons.append(f"Service {svc.name} ({svc.attributes['spec'].get('type')})")
            elif _TORCHSERVE_MANAGEMENT in numbers or "management" in numbers:
                reasons.append(f"Service {svc.name} port {_TORCHSERVE_MANAGEMENT}")
        for svc in ctx.of_type("kubernetes", "Service"):
            spec = svc.attributes.get("spec") or {}
            selector = spec.get("selector") if isinstance(spec, Mapping) else None
            if (
                svc.name in backends
                and svc.extra["namespace"] == s.namespace
                and isinstance(selector, Mapping)
                and selector
                and selects({"matchLabels": selector}, s.labels)
                and (
                    "triton" in kinds
                    or _TORCHSERVE_MANAGEMENT in _port_numbers(as_list(spec.get("ports")))
                )
            ):
                reasons.append(f"Ingress to Service {svc.name}")
        if reasons:
            what = (
                "TorchServe management API (register models from any URL)"
                if "torchserve" in kinds
                else "Triton repository API (--model-control-mode lets clients load models)"
            )
            yield Hit(
                s.resource,
                f"{what} reachable through {', '.join(reasons)}",
                {"attribute": "exposure", "value": ", ".join(reasons), "server": kinds[0]},
            )


_TRUST = re.compile(r"(?<![\w-])--trust[-_]remote[-_]code(?:[= ](?P<v>\S+))?")


def _llm(c: Mapping[str, Any]) -> str | None:
    text = f"{c.get('image', '')} {_cmdline(c)}".lower()
    if "vllm" in text:
        return "vllm"
    if "text-generation-inference" in text or "text-generation-launcher" in text:
        return "tgi"
    if "huggingfaceserver" in text or "kserve/huggingface" in text:
        return "kserve-huggingface"
    return None


def _trust_remote_code(ctx: Context) -> Iterator[Hit]:
    for s in servers(ctx):
        bad: list[str] = []
        for c in s.containers:
            if _llm(c) is None:
                continue
            m = _TRUST.search(_cmdline(c))
            flag = m is not None and (
                m.group("v") is None
                or m.group("v").lower() in ("true", "1")
                or m.group("v").startswith("-")
            )
            env = _env(c).get("TRUST_REMOTE_CODE")
            if flag or (isinstance(env, str) and env.lower() in ("true", "1")):
                bad.append(str(c.get("name", "model")))
        if bad:
            yield Hit(
                s.resource,
                f"container {', '.join(bad)} runs with --trust-remote-code: Python code from "
                "the model repository executes in the server",
                {"attribute": "args", "value": "--trust-remote-code", "containers": bad},
            )


def _openai_server(c: Mapping[str, Any]) -> str | None:
    """``vllm``/``tgi`` when the container starts that server's own OpenAI-compatible API
    (``vllm serve``, the ``vllm/vllm-openai`` image's entrypoint, TGI's launcher), not a Ray
    Serve or other application that imports the library and serves its own routes."""
    image = str(c.get("image", "")).lower()
    cmd = _cmdline(c).lower()
    command = " ".join(str(p) for p in as_list(c.get("command"))).lower()
    if re.search(r"vllm(\.entrypoints\.openai\.api_server|\s+serve\b)", cmd) or (
        "vllm/vllm-openai" in image and not command
    ):
        return "vllm"
    if "text-generation-launcher" in cmd or ("text-generation-inference" in image and not command):
        return "tgi"
    return None


def _no_api_key(ctx: Context) -> Iterator[Hit]:
    for s in servers(ctx):
        bad: list[str] = []
        for c in s.containers:
            kind = _openai_server(c)
            if kind is None:
                continue
            env = _env(c)
            key_env = "VLLM_API_KEY" if kind == "vllm" else "API_KEY"
            if "--api-key" in _cmdline(c) or key_env in env:
                continue
            bad.append(f"{c.get('name', 'model')} ({'vLLM' if kind == 'vllm' else 'TGI'})")
        if bad:
            yield Hit(
                s.resource,
                f"container {', '.join(bad)} serves its OpenAI-compatible API without "
                "--api-key: anyone who reaches it can use the model",
                {"attribute": "args", "value": "no --api-key", "containers": bad},
            )


_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _mutable_image(ctx: Context) -> Iterator[Hit]:
    for s in servers(ctx):
        bad: list[str] = []
        for c in s.containers:
            image = c.get("image")
            if not isinstance(image, str) or is_unknown(image) or _DIGEST.search(image):
                continue
            if not is_server_image(image) and s.resource.type in (
                "Deployment",
                "StatefulSet",
                "DaemonSet",
                "ReplicaSet",
                "Job",
                "CronJob",
                "Pod",
            ):
                continue  # a sidecar of a model-server pod
            name = image.rsplit("/", 1)[-1]
            tag = name.split(":", 1)[1] if ":" in name else None
            shown = "no tag (latest)" if tag is None else f"tag {tag!r}"
            bad.append(f"{c.get('name', 'model')}: {image} ({shown})")
        if bad:
            yield Hit(
                s.resource,
                f"serving image not pinned by digest: {'; '.join(bad)}",
                {"attribute": "image", "value": bad[0]},
            )


LOGIC: dict[str, Logic] = {
    "k8s-http-model-download": _http_downloads,
    "k8s-ray-exposed": _ray_exposed,
    "k8s-management-api-exposed": _management_api,
    "k8s-trust-remote-code": _trust_remote_code,
    "k8s-llm-no-api-key": _no_api_key,
    "k8s-mutable-image": _mutable_image,
}
