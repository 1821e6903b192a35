"""Wrong arguments, unusable credentials and endpoints that are down or are not the API, per
provider: one line naming what was wrong, exit 2, no traceback, quickly.

"Not the API" is a local web server that answers every request ``404`` with an empty body, as a
proxy or a mistyped endpoint does."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mlstix.cli.main import cli
from tests.assess.http_support import QuietJsonHandler, serving

SUB = "00000000-1111-2222-3333-444444444444"


class _NotTheApi(QuietJsonHandler):
    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _any


@contextmanager
def _web_server() -> Iterator[str]:
    with serving(_NotTheApi) as url:
        yield url


def _closed_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once it is closed


def _run(*args: str) -> tuple[Result, float]:
    start = time.monotonic()
    result = CliRunner().invoke(cli, ["assess", *args])
    return result, time.monotonic() - start


def _one_line(result: Result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert text in result.output, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["aws", "--region", "us-east-1!"], "not a SageMaker region: us-east-1!"),
        (["azure", "--subscription", "my-sub"], "is not an Azure subscription id (a GUID)"),
        (["azure", "--subscription", SUB, "-j", "0"], "0 is not in the range"),
        (["azure", "--subscription", SUB, "--resource-group", "a b"], "resource group name"),
        (["gcp", "--project", "projects/p"], "is not a Google Cloud project id"),
        (["gcp", "--project", "ml-prod-4821", "--location", "us"], "a Vertex AI region"),
        (["kubernetes", "-n", "Team_A"], "is not a Kubernetes namespace name"),
        (["gcp", "--project", "ml-prod-4821", "--max-artifact-size", "0"], "must be more"),
        (["snapshot", "/nonexistent/mlstix"], "no snapshot at"),
    ],
)
def test_wrong_arguments_are_refused_before_any_call(
    args: list[str], text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # credentials that would be tried are absent; the argument is refused first
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAMLSTIXTESTKEY001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", _closed_port())
    result, _ = _run(*args)
    _one_line(result, text)


def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAMLSTIXTESTKEY001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


def test_aws_endpoint_that_is_not_aws_or_no_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("boto3", reason="boto3 (assess extra) is not installed")
    with _web_server() as url:
        _aws_env(monkeypatch, tmp_path, url)
        result, took = _run("aws", "--region", "us-east-1")
    _one_line(result, "did not answer as AWS STS does")
    assert took < 20
    _aws_env(monkeypatch, tmp_path, "not-a-url")
    result, _ = _run("aws", "--region", "us-east-1")
    _one_line(result, "cannot make an AWS client: Invalid endpoint: not-a-url")


def test_aws_config_file_that_is_not_ini(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("boto3", reason="boto3 (assess extra) is not installed")
    _aws_env(monkeypatch, tmp_path, _closed_port())
    bad = tmp_path / "config"
    bad.write_text("this is [not an ini file\n  = =\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(bad))
    result, _ = _run("aws", "--region", "us-east-1")
    _one_line(result, "the AWS configuration could not be read")


def test_azure_endpoint_down_or_without_host(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("azure.mgmt.core", reason="azure-mgmt-core (assess extra) is not installed")
    import azure.identity

    from tests.assess.azure_support import StaticToken

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", StaticToken)
    down = _closed_port()
    result, took = _run("azure", "--subscription", SUB, "--arm-endpoint", down)
    _one_line(result, f"cannot reach Azure Resource Manager at {down}")
    assert took < 10  # a refused connection is retried once, not six times with back-off
    result, _ = _run("azure", "--subscription", SUB, "--arm-endpoint", "https://")
    _one_line(result, "the ARM endpoint names no host")


def _gcp_env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for api in ("AIPLATFORM", "NOTEBOOKS", "CLOUDRESOURCEMANAGER"):
        monkeypatch.setenv(f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}", f"{url}/")
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE", f"{url}/storage/v1/")


def _gcp(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("googleapiclient", reason="google-api-python-client is not installed")
    import google.auth

    from tests.assess.test_gcp import StaticCredentials

    monkeypatch.setattr(google.auth, "default", lambda **_: (StaticCredentials(), "p"))


def test_gcp_endpoint_down_or_not_google(monkeypatch: pytest.MonkeyPatch) -> None:
    _gcp(monkeypatch)
    _gcp_env(monkeypatch, _closed_port())
    result, took = _run("gcp", "--project", "ml-prod-4821")
    _one_line(result, "cannot reach the Google APIs")
    assert took < 15  # the first call is tried twice, not with five back-offs (35 s before)
    with _web_server() as url:
        _gcp_env(monkeypatch, url)
        result, _ = _run("gcp", "--project", "ml-prod-4821")
    _one_line(result, "did not answer as a Google API does (HTTP 404, no JSON error body)")


def test_gcp_credentials_file_named_but_unusable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("googleapiclient", reason="google-api-python-client is not installed")
    bad = tmp_path / "key.json"
    bad.write_text(json.dumps({"type": "service_account"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(bad))
    result, _ = _run("gcp", "--project", "ml-prod-4821")
    _one_line(result, f"GOOGLE_APPLICATION_CREDENTIALS names {bad}, which is not a usable")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    result, _ = _run("gcp", "--project", "ml-prod-4821")
    _one_line(result, "missing.json: no such file or directory")


def _kubeconfig(path: Path, server: str) -> Path:
    from tests.assess.kube_support import kubeconfig

    return kubeconfig(path, server)


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("- just\n- a list\n", "not a kubeconfig: a YAML mapping with clusters, contexts"),
        ("clusters: [\n", "no Kubernetes credentials"),
        ("\udcff", "no Kubernetes credentials"),
    ],
)
def test_kubeconfig_that_is_not_one(tmp_path: Path, content: str, text: str) -> None:
    pytest.importorskip("kubernetes", reason="kubernetes (assess extra) is not installed")
    path = tmp_path / "config"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    result, _ = _run("kubernetes", "--kubeconfig", str(path), "--context", "x")
    _one_line(result, text)


def test_kubernetes_server_that_is_not_an_api_server(tmp_path: Path) -> None:
    pytest.importorskip("kubernetes", reason="kubernetes (assess extra) is not installed")
    with _web_server() as url:
        config = _kubeconfig(tmp_path / "web", url)
        result, _ = _run("kubernetes", "--kubeconfig", str(config))
    _one_line(result, f"{url} did not answer GET /api as a Kubernetes API server does (HTTP 404)")


def test_kubernetes_server_answering_html(tmp_path: Path) -> None:
    pytest.importorskip("kubernetes", reason="kubernetes (assess extra) is not installed")

    class Html(QuietJsonHandler):
        def do_GET(self) -> None:  # a login page behind a proxy: 200, not JSON
            data = b"<html><body>sign in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with serving(Html) as url:
        config = _kubeconfig(tmp_path / "html", url)
        result, _ = _run("kubernetes", "--kubeconfig", str(config))
    _one_line(result, "did not answer GET /api as a Kubernetes API server does (the answer is not")


def test_azure_configured_credential_that_fails_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("azure.mgmt.core", reason="azure-mgmt-core (assess extra) is not installed")
    import azure.identity
    from azure.core.exceptions import ClientAuthenticationError

    class Failing:
        """DefaultAzureCredential's error when the configured EnvironmentCredential fails (its
        message lists the attempted credential and the reason, as azure-identity words it)."""

        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise ClientAuthenticationError(
                "DefaultAzureCredential failed to retrieve a token from the included "
                "credentials.\nAttempted credentials:\n\tEnvironmentCredential: Authentication "
                "failed: AADSTS7000215: Invalid client secret provided.\nTo mitigate this "
                "issue, please refer to the troubleshooting guidelines here at "
                "https://aka.ms/azsdk/python/identity/defaultazurecredential/troubleshoot."
            )

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", Failing)
    with _web_server() as url:
        result, _ = _run("azure", "--subscription", SUB, "--arm-endpoint", url)
    _one_line(
        result,
        "Azure sign-in failed: EnvironmentCredential: Authentication failed: AADSTS7000215",
    )
