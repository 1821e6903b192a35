# mypy: disable-error-code="import-untyped"
"""``mlstix assess kubernetes``: the model servers a cluster runs, as its API server returns them.

Credentials and the server come from the kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``, a
``--context``), else the in-cluster service account, through the official ``kubernetes`` client.
Only ``GET`` list requests are sent (verbs ``list`` of the ``view`` ClusterRole), paginated with
``limit``/``continue``.

A live object is a manifest (the API's own JSON), so the IaC Kubernetes rules judge it as they
judge files. What the API adds is removed first: ``managedFields``, ``status``, and the
``kubectl.kubernetes.io/last-applied-configuration`` annotation (a copy of the manifest with its
environment values). Objects a controller owns (a Deployment's ReplicaSets and Pods, the
Deployment a KServe ``InferenceService`` makes, the StatefulSet of a Kubeflow ``Notebook``) are
left out: their owner is judged. Custom resources whose API the cluster does not serve (KServe,
Seldon, Istio not installed) are noted; Kubeflow notebooks are read at ``kubeflow.org/v1``, else
at the older v1beta1/v1alpha1 a cluster before Kubeflow 1.7 serves. LimitRanges (default limits
of a namespace) and the RBAC objects (ClusterRoleBindings, RoleBindings, ClusterRoles, Roles:
which rights a notebook's token carries) are read for the Kubeflow notebook rules; the built-in
``view`` ClusterRole does not cover RBAC objects, so their list may be forbidden (an ``errors``
entry; the rule that needs them then judges what it has).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstix._timeouts import PROBE_ENV, READ_ENV, probe_timeout, read_timeout
from mlstix.assess._inventory import Inventory, live_resource
from mlstix.assess._pool import run
from mlstix.errors import MlstixError

__all__ = ["KINDS", "KubeOptions", "KubernetesCredentialsError", "collect_kubernetes"]


class KubernetesCredentialsError(MlstixError):
    """No usable cluster credentials, or the API server cannot be reached."""

    hint = "check `kubectl config current-context`, or pass --context NAME"


# (group/version, plural, kind, namespaced, custom resource)
KINDS: tuple[tuple[str, str, str, bool, bool], ...] = (
    ("v1", "pods", "Pod", True, False),
    ("v1", "services", "Service", True, False),
    ("v1", "serviceaccounts", "ServiceAccount", True, False),
    ("v1", "limitranges", "LimitRange", True, False),
    ("apps/v1", "deployments", "Deployment", True, False),
    ("apps/v1", "statefulsets", "StatefulSet", True, False),
    ("apps/v1", "daemonsets", "DaemonSet", True, False),
    ("apps/v1", "replicasets", "ReplicaSet", True, False),
    ("batch/v1", "jobs", "Job", True, False),
    ("batch/v1", "cronjobs", "CronJob", True, False),
    ("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", True, False),
    ("networking.k8s.io/v1", "ingresses", "Ingress", True, False),
    # who holds which rights (a notebook mounting a token with rights beyond its namespace:
    # bindings, and the roles they name, aggregated ClusterRoles as the controller filled them);
    # the built-in view ClusterRole does not cover RBAC objects: a 403 is reported and the rest
    # goes on
    ("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False, False),
    ("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding", True, False),
    ("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False, False),
    ("rbac.authorization.k8s.io/v1", "roles", "Role", True, False),
    ("serving.kserve.io/v1beta1", "inferenceservices", "InferenceService", True, True),
    ("serving.kserve.io/v1alpha1", "servingruntimes", "ServingRuntime", True, True),
    ("serving.kserve.io/v1alpha1", "clusterservingruntimes", "ClusterServingRuntime", False, True),
    ("serving.kserve.io/v1alpha1", "trainedmodels", "TrainedModel", True, True),
    ("serving.kserve.io/v1alpha1", "inferencegraphs", "InferenceGraph", True, True),
    ("machinelearning.seldon.io/v1", "seldondeployments", "SeldonDeployment", True, True),
    ("mlops.seldon.io/v1alpha1", "models", "Model", True, True),
    ("ray.io/v1", "rayclusters", "RayCluster", True, True),
    ("ray.io/v1", "rayservices", "RayService", True, True),
    ("security.istio.io/v1beta1", "authorizationpolicies", "AuthorizationPolicy", True, True),
    ("kubeflow.org/v1", "notebooks", "Notebook", True, True),
)
# older versions of a custom resource, read when the cluster does not serve the newest (Kubeflow
# before 1.7 serves Notebook as v1beta1 only); a cluster serving both converts every object to
# the newest, so only one version is ever listed
_OLDER = {"kubeflow.org/v1": ("kubeflow.org/v1beta1", "kubeflow.org/v1alpha1")}
# a RayService's RayCluster, a Deployment's ReplicaSet and Pods, a KServe Deployment: the owner
# is judged
_OWNED_SKIPPED = frozenset(
    {"Pod", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job", "RayCluster"}
)
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_PAGE = 500


@dataclass(frozen=True)
class KubeOptions:
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    jobs: int = 8
    kubeconfig: str | None = None  # default: $KUBECONFIG or ~/.kube/config


def _client(options: KubeOptions) -> tuple[Any, str]:
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException
    from yaml import YAMLError

    from mlstix.assess._kubeconfig import loader

    if options.kubeconfig is not None and not Path(options.kubeconfig).is_file():
        raise KubernetesCredentialsError(f"no kubeconfig file at {options.kubeconfig}")
    try:
        parsed = loader(options.kubeconfig, options.context)  # one parse, PyYAML's C loader
        if parsed is not None:
            configuration = _configuration()
            parsed.load_and_set(configuration)
            active = parsed.current_context
            name = options.context or str((active or {}).get("name") or "kubeconfig")
            return client.ApiClient(configuration), name
        api = config.new_client_from_config(
            config_file=options.kubeconfig,
            context=options.context,
            persist_config=False,
            client_configuration=_configuration(),
        )
        _, active = config.list_kube_config_contexts(config_file=options.kubeconfig)
        name = options.context or str((active or {}).get("name") or "kubeconfig")
        return api, name
    except (ConfigException, OSError, YAMLError, ValueError) as exc:
        kube_error = " ".join(str(exc).split())[:200]  # not YAML, not UTF-8
    except (TypeError, AttributeError):  # YAML, but not the shape of a kubeconfig
        kube_error = "not a kubeconfig: a YAML mapping with clusters, contexts and users"
    except RecursionError:  # PyYAML's composer recurses once per level
        kube_error = "not a kubeconfig: YAML nested too deeply"
    if options.context is None:
        try:
            configuration = _configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration), "in-cluster"
        except ConfigException:
            pass
    where = f" {options.kubeconfig}" if options.kubeconfig is not None else ""
    raise KubernetesCredentialsError(
        f"no Kubernetes credentials: tried the kubeconfig{where} ({kube_error}) and the in-cluster "
        "service account"
    )


def _configuration() -> Any:
    """A client configuration whose connections retry a read timeout once (urllib3's default
    retries it three times, so a silent server held a command for minutes)."""
    from kubernetes import client
    from urllib3.util.retry import Retry

    configuration = client.Configuration()
    configuration.retries = Retry(total=3, connect=2, read=1, status=0, backoff_factor=0.2)
    return configuration


def _get(
    api: Any, path: str, query: list[tuple[str, Any]], *, wait: float | None = None
) -> tuple[int, Any]:
    """GET ``path``; ``wait`` is the read timeout (default ``MLSTIX_READ_TIMEOUT``, 60 s)."""
    from kubernetes.client.exceptions import ApiException

    try:
        resp = api.call_api(
            path,
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=(10, read_timeout() if wait is None else wait),
        )
    except ApiException as exc:
        return int(exc.status or 0), exc.reason
    raw = resp[0] if isinstance(resp, tuple) else resp
    try:
        body = json.loads(raw.data)
    except ValueError:  # a web server or proxy, not an API server
        return -1, "the answer is not JSON"
    return (200, body) if isinstance(body, dict) else (-1, "the answer is not a JSON object")


def _clean(obj: dict[str, Any], kind: str, api_version: str, ns: str | None) -> dict[str, Any]:
    obj = dict(obj)
    obj.pop("status", None)
    obj.setdefault("kind", kind)
    obj.setdefault("apiVersion", api_version)
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(_LAST_APPLIED, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    if ns is not None:
        meta.setdefault("namespace", ns)
    obj["metadata"] = meta
    return obj


def _owned(obj: dict[str, Any]) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, dict) and r.get("controller") for r in refs)


def _items(api: Any, path: str, inventory: Inventory) -> Iterator[dict[str, Any]]:
    token = ""
    while True:
        query: list[tuple[str, Any]] = [("limit", _PAGE)]
        if token:
            query.append(("continue", token))
        status, body = _get(api, path, query)
        inventory.count_call()
        if status != 200:
            raise _Failed(status, str(body))
        yield from (i for i in body.get("items") or [] if isinstance(i, dict))
        token = str((body.get("metadata") or {}).get("continue") or "")
        if not token:
            return


class _Failed(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _list_kind(
    api: Any,
    inventory: Inventory,
    cluster: str,
    kind_row: tuple[str, str, str, bool, bool],
    namespace: str | None,
) -> None:
    group_version, plural, _, _, custom = kind_row
    resource = plural if "/" not in group_version else f"{plural}.{group_version.split('/')[0]}"
    versions = (group_version, *_OLDER.get(group_version, ()))
    for version in versions:
        prefix = "/api/v1" if version == "v1" else f"/apis/{version}"
        path = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
        try:
            _add_items(api, inventory, cluster, path, prefix, kind_row, version)
            return
        except _Failed as exc:
            if exc.status == 404 and custom and version != versions[-1]:
                continue  # not served at this version: try the older one
            label = ", ".join(versions) if exc.status == 404 else version
            _failed(exc, inventory, cluster, path, resource, label, namespace, custom)
            return


def _add_items(
    api: Any,
    inventory: Inventory,
    cluster: str,
    path: str,
    prefix: str,
    kind_row: tuple[str, str, str, bool, bool],
    version: str,
) -> None:
    _, plural, kind, namespaced, _ = kind_row
    for obj in _items(api, path, inventory):
        if kind in _OWNED_SKIPPED and _owned(obj):
            continue
        ns = str((obj.get("metadata") or {}).get("namespace") or "") or None
        clean = _clean(obj, kind, version, ns if namespaced else None)
        name = str(clean["metadata"].get("name", ""))
        where = f"namespaces/{ns}/" if namespaced and ns else ""
        inventory.add(
            live_resource(
                provider="kubernetes",
                type=kind,
                name=name,
                ident=f"k8s://{cluster}{prefix}/{where}{plural}/{name}",
                attributes=clean,
                language="kubernetes",
                account=cluster,
                namespace=ns or "default",
                address=f"{kind}/{ns}/{name}" if namespaced and ns else f"{kind}/{name}",
            )
        )


def _failed(
    exc: _Failed,
    inventory: Inventory,
    cluster: str,
    path: str,
    resource: str,
    version: str,
    namespace: str | None,
    custom: bool,
) -> None:
    scope = f" in namespace {namespace}" if namespace else ""
    if exc.status == 404 and custom:
        inventory.note(f"{resource} ({version}) is not served by the cluster; not read")
    elif exc.status == 403:
        inventory.error(
            f"k8s://{cluster}{path}",
            f"list {resource}{scope} was forbidden (403): grant the verb list on "
            f"{resource} (docs/assess.md lists the read-only ClusterRole)",
        )
    elif exc.status == 401:
        raise KubernetesCredentialsError(
            f"the API server of {cluster} rejected the credentials (401 Unauthorized)"
        ) from None
    else:
        inventory.error(
            f"k8s://{cluster}{path}", f"list {resource}{scope} failed: {exc.status} {exc}"
        )


def _unreachable(exc: BaseException) -> str:
    """Why a connection failed, in words (urllib3 wraps it: MaxRetryError -> its reason)."""
    why = getattr(exc, "reason", None) or exc
    text = str(why).lower()
    for needle, said in (
        ("connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("name or service not known", "unknown host name"),
        ("nodename nor servname", "unknown host name"),
        ("certificate verify failed", "its TLS certificate is not trusted"),
    ):
        if needle in text:
            return said
    return type(why).__name__


def collect_kubernetes(options: KubeOptions) -> Inventory:
    """Read the cluster's workloads, services, policies and model-serving custom resources."""
    from urllib3.exceptions import HTTPError

    api, cluster = _client(options)
    inventory = Inventory(cloud="kubernetes", target=cluster)
    inventory.collected_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    host = str(api.configuration.host)
    wait = probe_timeout()  # MLSTIX_PROBE_TIMEOUT: the first call, to a server that may be silent
    try:
        status, answer = _get(api, "/api", [], wait=wait)
    except (HTTPError, OSError) as exc:
        if _unreachable(exc) == "timed out" and "read timed out" in str(exc).lower():
            raise KubernetesCredentialsError(
                f"the Kubernetes API server {host} accepted the connection but did not answer "
                f"within {wait:g} s (tried twice)",
                hint=f"check the server of the kubeconfig context; {PROBE_ENV} raises the wait",
            ) from None
        raise KubernetesCredentialsError(
            f"cannot reach the Kubernetes API server {host}: {_unreachable(exc)}"
        ) from None
    if status == 401:
        raise KubernetesCredentialsError(
            f"the API server {host} rejected the credentials of context {cluster} (401)"
        )
    if status not in (200, 403):  # 403: discovery forbidden, the lists may still be allowed
        why = f"HTTP {status}" if status > 0 else str(answer)
        raise MlstixError(
            f"{host} did not answer GET /api as a Kubernetes API server does ({why})",
            hint="check the server of the kubeconfig context, or pass --context NAME",
        )
    inventory.note(f"cluster {cluster} at {host}")
    namespaces: tuple[str | None, ...] = options.namespaces or (None,)
    tasks: list[Callable[[], None]] = [
        functools.partial(_list_kind, api, inventory, cluster, row, ns)
        for row in KINDS
        for ns in (namespaces if row[3] else (None,))
    ]
    try:
        run(tasks, options.jobs)
    except (HTTPError, OSError) as exc:
        why = _unreachable(exc)
        raise KubernetesCredentialsError(
            f"lost the Kubernetes API server {host}: {why}"
            + (f" (no answer within {read_timeout():g} s)" if why == "timed out" else ""),
            hint=f"{READ_ENV} raises the wait" if why == "timed out" else "",
        ) from None
    finally:
        api.close()
    return inventory
