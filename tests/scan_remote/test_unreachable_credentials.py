"""What else stops a remote scan, each said in one line naming the store's credential chain or
the object, with exit 2: credentials that the store refuses (Azure's shared key on Azurite, an
anonymous caller on Cloud Storage as its JSON API answers), a bucket that does not exist, and
one object that cannot be read among many (an errors entry, the rest scanned)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from . import hub, registry, servers


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlstix", "scan", "models", *args, "--format", "json"],
        env=servers.child_env(**env), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _refused(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert "Traceback" not in proc.stderr
    first, _, rest = proc.stderr.partition("\n")
    assert all(w in first for w in words), proc.stderr
    return rest


def test_s3_one_unreadable_object_is_an_error_entry_the_rest_scanned() -> None:
    pytest.importorskip("s3fs", reason="mlstix[remote] is not installed")
    pytest.importorskip("moto.server", reason="moto[server] is not installed")
    with servers.moto_s3() as endpoint:
        client = servers.s3_client(endpoint)
        client.create_bucket(Bucket="models")
        payload = registry.PAYLOAD
        client.put_object(Bucket="models", Key="r/ok.pkl", Body=payload)
        # archived: GetObject answers 403 InvalidObjectState until it is restored
        client.put_object(Bucket="models", Key="r/cold.pkl", Body=payload,
                          StorageClass="GLACIER")  # fmt: skip
        env = {**servers.S3_ENV, "AWS_ENDPOINT_URL": endpoint}
        proc = _cli(env, "s3://models/r")
        missing = _cli(env, "s3://no-such-bucket/models")
    assert proc.returncode == 2, proc.stderr  # an object could not be scanned
    data = json.loads(proc.stdout)
    assert data["errors"] == [{"path": "s3://models/r/cold.pkl", "message": "cannot read: "
                               "access denied: The operation is not valid for the object's "
                               "storage class"}]  # fmt: skip
    critical = {f["location"]["path"] for f in data["findings"] if f["severity"] == "critical"}
    assert critical == {"s3://models/r/ok.pkl"}
    _refused(missing, "s3://no-such-bucket/models", "no such object or prefix")


def test_azure_refused_shared_key_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("adlfs", reason="mlstix[remote] is not installed")
    if servers.azurite_command() is None:
        pytest.skip("Azurite is not installed (make test-deps installs it into .cache/npm)")
    with servers.azurite(tmp_path / "azurite") as conn:
        wrong = conn.replace("AccountKey=Eby8", "AccountKey=Xby8")
        proc = _cli({"AZURE_STORAGE_CONNECTION_STRING": wrong}, "az://models/reg")
    hint = _refused(proc, "az://models/reg: cannot list: access denied (HTTP 403")
    assert "AZURE_STORAGE_CONNECTION_STRING" in hint and "DefaultAzureCredential" in hint


class _Anonymous(BaseHTTPRequestHandler):
    """Cloud Storage's JSON API to a caller without credentials (gcsfs falls back to anonymous
    access when Application Default Credentials find none), as Google documents the error."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        message = ("Anonymous caller does not have storage.objects.list access to the Google "
                   "Cloud Storage bucket. Permission 'storage.objects.list' denied on resource "
                   "(or it may not exist).")  # fmt: skip
        body = json.dumps({"error": {"code": 401, "message": message, "errors": [
            {"message": message, "domain": "global", "reason": "required"}]}}).encode()  # fmt: skip
        self.send_response(401)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def anonymous() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Anonymous)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_gcs_without_credentials_is_one_line_naming_adc(anonymous: str) -> None:
    pytest.importorskip("gcsfs", reason="mlstix[remote] is not installed")
    proc = _cli({"STORAGE_EMULATOR_HOST": anonymous}, "gs://private/models")
    hint = _refused(proc, "gs://private/models: cannot list: not authenticated (HTTP 401",
                    "Anonymous caller")  # fmt: skip
    assert "GOOGLE_APPLICATION_CREDENTIALS" in hint


def test_hub_private_repository_without_a_token_is_one_line_naming_hf_token() -> None:
    pytest.importorskip("huggingface_hub", reason="mlstix[remote] is not installed")
    repo = hub.Repo({"model.pkl": registry.PAYLOAD}, token="hf_test_token")
    with hub.hub({"acme/private": repo}) as url:
        env = {"HF_ENDPOINT": url, "HF_HUB_DISABLE_TELEMETRY": "1"}
        anonymous = _cli(env, "hf://acme/private")
        with_token = _cli({**env, "HF_TOKEN": "hf_test_token"}, "hf://acme/private")
    # the Hub answers for a private repository as for none: the hint names the token
    hint = _refused(anonymous, "hf://acme/private: no such object or prefix")
    assert "a private one needs HF_TOKEN" in hint and "hf_test_token" not in anonymous.stderr
    assert with_token.returncode == 1, with_token.stderr  # the token sees it: the payload
    assert "hf_test_token" not in with_token.stdout + with_token.stderr
