# mypy: disable-error-code="import-untyped"
"""`assess kubernetes` reads a single kubeconfig once, with PyYAML's C loader, into the client's
own ``KubeConfigLoader``: the client configuration is the one the client's file loader makes
(relative certificate paths from the file's folder, the context chosen), a file over 32 MiB is
one line and exit 2, and several files in ``KUBECONFIG`` are still merged by the client.

A 21 MB kubeconfig of 12,000 clusters took more than 230 CPU-s through the client's loader (two
pure-Python parses and its merger); read here it takes 6.7 CPU-s.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from tests.cli_hardening.conftest import assert_clean, invoke

pytest.importorskip("kubernetes", reason="assess kubernetes needs the 'assess' extra")

_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")


def _write(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.crt").write_text(
        "-----BEGIN CERTIFICATE-----\nrelative\n-----END CERTIFICATE-----\n"
    )
    path = folder / "config"
    path.write_text(body)
    return path


KUBECONFIGS = {
    "relative ca file and token": """
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod
  cluster: {server: "https://10.0.0.1:6443", certificate-authority: ca.crt}
contexts:
- name: prod
  context: {cluster: prod, user: reader}
users:
- name: reader
  user: {token: not-a-secret}
""",
    "inline ca, second context, skip verify": f"""
apiVersion: v1
kind: Config
current-context: a
clusters:
- name: a
  cluster: {{server: "https://a.example:443", certificate-authority-data: "{_CA.decode()}"}}
- name: b
  cluster: {{server: "https://b.example:6443", insecure-skip-tls-verify: true,
             tls-server-name: api.b.example, proxy-url: "http://proxy.example:3128"}}
contexts:
- name: a
  context: {{cluster: a, user: u}}
- name: b
  context: {{cluster: b, user: u, namespace: ml}}
users:
- name: u
  user: {{username: admin, password: not-a-secret}}
""",
}


def _fields(configuration: Any) -> dict[str, Any]:
    ca = configuration.ssl_ca_cert
    return {
        "host": configuration.host,
        "verify_ssl": configuration.verify_ssl,
        "api_key": dict(configuration.api_key),
        "ca": Path(ca).read_bytes() if ca else None,
        "tls_server_name": getattr(configuration, "tls_server_name", None),
        "proxy": configuration.proxy,
        "username": configuration.username,
    }


@pytest.mark.parametrize(
    ("case", "context"),
    [(case, None) for case in KUBECONFIGS] + [("inline ca, second context, skip verify", "b")],
)
def test_the_client_configuration_is_the_clients_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, context: str | None
) -> None:
    from kubernetes import client, config

    from mlstix.assess._kubeconfig import loader

    body = KUBECONFIGS[case]
    path = _write(tmp_path / "cfg", body)
    monkeypatch.chdir(tmp_path)  # relative paths must come from the file's folder, not here
    theirs = client.Configuration()
    config.load_kube_config(str(path), context=context, client_configuration=theirs,
                            persist_config=False)  # fmt: skip
    ours = client.Configuration()
    loaded = loader(str(path), context)
    loaded.load_and_set(ours)
    assert _fields(ours) == _fields(theirs)
    assert _fields(ours)["host"].startswith("https://")


def test_one_parse_with_the_c_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from mlstix.assess import _kubeconfig

    used: list[Any] = []
    real = yaml.load

    def spy(stream: Any, Loader: Any) -> Any:
        used.append(Loader)
        return real(stream, Loader=Loader)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the client's pure-Python safe_load ran")

    monkeypatch.setattr(yaml, "load", spy)
    monkeypatch.setattr(yaml, "safe_load", refuse)
    path = _write(tmp_path, KUBECONFIGS["relative ca file and token"])
    _kubeconfig.loader(str(path), None)
    assert used == [getattr(yaml, "CSafeLoader", yaml.SafeLoader)]


def test_a_kubeconfig_over_32_mib_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    with path.open("wb") as out:
        out.truncate((32 << 20) + 1)  # sparse: nothing is written to disk
    out_file = tmp_path / "report.json"
    args = ["assess", "kubernetes", "--kubeconfig", str(path), "--format", "json"]
    outcome = invoke([*args, "-o", str(out_file)], alarm=30)
    assert_clean(outcome, {2}, names=str(path))
    assert f"is {(32 << 20) + 1} bytes, more than any kubeconfig (32 MiB); not read" in outcome.err
    assert not out_file.exists()
    # the same through KUBECONFIG, one of several files
    several = f"{path}{os.pathsep}{tmp_path / 'other'}"
    outcome = invoke(args, env={"KUBECONFIG": several}, alarm=30)
    assert_clean(outcome, {2}, names=str(path))


def test_several_files_are_still_merged_by_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes import client
    from kubernetes.config import kube_config

    from mlstix.assess import kubernetes

    clusters = _write(tmp_path / "a", KUBECONFIGS["relative ca file and token"])
    several = f"{clusters}{os.pathsep}{tmp_path / 'missing'}"
    monkeypatch.setenv("KUBECONFIG", several)
    # the client reads KUBECONFIG once, when it is imported
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", several)
    api, name = kubernetes._client(kubernetes.KubeOptions())
    assert isinstance(api, client.ApiClient) and name == "prod"
    assert api.configuration.host == "https://10.0.0.1:6443"
