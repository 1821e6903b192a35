"""A server that accepts the TCP connection and never answers must not hang a command.

Before, ``assess aws``, ``assess kubernetes`` and ``scan models s3://`` pointed at such a server
were still waiting after 150 s (60 s read timeouts times the SDKs' retries). Now each stops
within a bound (about 30 s by default; a few seconds here, with ``MLSTIX_PROBE_TIMEOUT`` and
``MLSTIX_READ_TIMEOUT`` set to 1 s), says in one line which endpoint did not answer, exits 2,
and writes no report. Each case runs the real command in a subprocess, as a CI gate would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlstix._timeouts import PROBE_ENV, READ_ENV

BOUND = 25.0  # seconds: 1 s timeouts tried twice, back-off and start-up, on a loaded machine


@pytest.fixture
def silent() -> Iterator[str]:
    """``host:port`` of a server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never read or answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    host, port = server.getsockname()
    try:
        yield f"{host}:{port}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()
    assert held, "the command never connected to the silent server"


def _env(**extra: str) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("AWS_", "KUBECONFIG", "MLSTIX_", "HTTP", "http", "ALL_PROXY", "AZURE_", "GOOGLE_")
        )
        and k not in ("STORAGE_EMULATOR_HOST", "HF_ENDPOINT", "HF_TOKEN")
    }
    return {
        **keep,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1",
        PROBE_ENV: "1",
        READ_ENV: "1",
        **extra,
    }


def _run(
    env: dict[str, str], out: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "mlstix", *args, "--format", "json", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, time.monotonic() - start


def _one_line(proc: subprocess.CompletedProcess[str], out: Path, took: float, *words: str) -> None:
    said = (
        f"exit {proc.returncode} after {took:.1f} s\nstderr: {proc.stderr}\nstdout: {proc.stdout}"
    )
    assert proc.returncode == 2, said
    assert "Traceback" not in proc.stderr + proc.stdout, said
    assert not out.exists(), f"a report was written although nothing was read\n{said}"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, said
    assert all(w in errors[0] for w in words), said
    assert took < BOUND, said


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: silent\n"
        f"clusters:\n- name: c\n  cluster: {{server: '{server}'}}\n"
        "contexts:\n- name: silent\n  context: {cluster: c, user: u}\n"
        "users:\n- name: u\n  user: {token: not-a-secret}\n"
    )
    return path


def test_assess_aws_names_the_silent_endpoint(silent: str, tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    out = tmp_path / "report.json"
    proc, took = _run(_env(AWS_ENDPOINT_URL=f"http://{silent}"), out, "assess", "aws")
    _one_line(proc, out, took, silent, "did not answer within 1 s")


def test_assess_kubernetes_names_the_silent_api_server(silent: str, tmp_path: Path) -> None:
    pytest.importorskip("kubernetes")
    config = _kubeconfig(tmp_path / "kubeconfig", f"http://{silent}")
    out = tmp_path / "report.json"
    proc, took = _run(_env(), out, "assess", "kubernetes", "--kubeconfig", str(config))
    _one_line(proc, out, took, silent, "did not answer within 1 s")


def test_scan_models_s3_names_the_silent_endpoint(silent: str, tmp_path: Path) -> None:
    pytest.importorskip("s3fs")
    out = tmp_path / "report.json"
    proc, took = _run(
        _env(AWS_ENDPOINT_URL=f"http://{silent}"), out, "scan", "models", "s3://models/x"
    )
    _one_line(proc, out, took, "s3://models/x", silent, "no answer", READ_ENV)


_AZURITE_KEY = (  # Azurite's published development account key, not a secret
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _azurite(endpoint: str) -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={_AZURITE_KEY};BlobEndpoint={endpoint}/devstoreaccount1;"
    )


def test_scan_models_gs_names_the_silent_endpoint(silent: str, tmp_path: Path) -> None:
    """Was still waiting at 200 s (gcsfs: 60 s a read, six attempts with back-off)."""
    pytest.importorskip("gcsfs")
    out = tmp_path / "report.json"
    env = _env(STORAGE_EMULATOR_HOST=f"http://{silent}")
    proc, took = _run(env, out, "scan", "models", "gs://models/x")
    _one_line(proc, out, took, "gs://models/x", f"no answer from http://{silent}", READ_ENV)


def test_scan_models_az_names_the_silent_endpoint(silent: str, tmp_path: Path) -> None:
    """Was still waiting at 200 s (azure-storage-blob: 60 s between bytes, three retries after
    15, 18 and 24 s, for each of the listing's requests)."""
    pytest.importorskip("adlfs")
    out = tmp_path / "report.json"
    env = _env(AZURE_STORAGE_CONNECTION_STRING=_azurite(f"http://{silent}"))
    proc, took = _run(env, out, "scan", "models", "az://models/x")
    _one_line(proc, out, took, "az://models/x", f"no answer from http://{silent}", READ_ENV)


def test_scan_models_hf_names_the_silent_hub(silent: str, tmp_path: Path) -> None:
    """The Hub client bounds its own wait (HF_HUB_ETAG_TIMEOUT, 10 s); the line now says which
    endpoint did not answer (it said only 'ReadTimeout: timed out')."""
    pytest.importorskip("huggingface_hub")
    out = tmp_path / "report.json"
    env = _env(HF_ENDPOINT=f"http://{silent}", HF_HUB_ETAG_TIMEOUT="1", HF_HUB_OFFLINE="0")
    proc, took = _run(env, out, "scan", "models", "hf://org/model")
    _one_line(proc, out, took, "hf://org/model", f"no answer from http://{silent}", "HF_HUB_")


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan", "1e9"])
def test_a_wait_that_is_no_number_of_seconds_is_refused(value: str, tmp_path: Path) -> None:
    pytest.importorskip("kubernetes")
    config = _kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    out = tmp_path / "report.json"
    proc, took = _run(
        _env(**{PROBE_ENV: value}), out, "assess", "kubernetes", "--kubeconfig", str(config)
    )
    _one_line(proc, out, took, PROBE_ENV, "not a number of seconds")


def test_the_s3_client_carries_the_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings reach the botocore client s3fs makes; ``AWS_MAX_ATTEMPTS`` stays the
    user's."""
    pytest.importorskip("s3fs")
    from mlstix.scan.remote import _waits

    for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", READ_ENV):
        monkeypatch.delenv(name, raising=False)
    config = _waits.s3_config()
    assert config["read_timeout"] == 15.0
    assert config["retries"] == {"total_max_attempts": 2, "mode": "standard"}
    monkeypatch.setenv(READ_ENV, "42")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")
    config = _waits.s3_config()
    assert config["read_timeout"] == 42.0 and "retries" not in config

    import s3fs  # type: ignore[import-untyped]

    fs = s3fs.S3FileSystem(config_kwargs=config, skip_instance_cache=True, anon=True)
    client_config = fs.connect().meta.config
    assert client_config.read_timeout == 42.0
    assert client_config.connect_timeout == _waits.CONNECT_TIMEOUT


def test_listings_slower_than_the_probe_still_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster that answers ``GET /api`` at once and each list after 1.3 s, more than the
    probe's 1 s: the listings wait ``MLSTIX_READ_TIMEOUT``, so the assessment completes; with
    that below 1.3 s, it is one clear error, not a hang."""
    pytest.importorskip("kubernetes")
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mlstix.assess.kubernetes import KubeOptions, KubernetesCredentialsError
    from mlstix.assess.kubernetes import collect_kubernetes as collect

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/api":
                body = b'{"kind": "APIVersions", "versions": ["v1"]}'
            else:
                time.sleep(1.3)
                body = b'{"kind": "List", "apiVersion": "v1", "metadata": {}, "items": []}'
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting, as the second half of the test wants
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        options = KubeOptions(kubeconfig=str(_kubeconfig(tmp_path / "kubeconfig", url)), jobs=16)
        monkeypatch.setenv(PROBE_ENV, "1")
        monkeypatch.setenv(READ_ENV, "10")
        inventory = collect(options)
        assert not inventory.errors, inventory.errors
        monkeypatch.setenv(READ_ENV, "0.5")
        lost = r"lost the Kubernetes API server .*: timed out \(no answer within 0.5 s\)"
        with pytest.raises(KubernetesCredentialsError, match=lost):
            collect(options)
    finally:
        server.shutdown()
        server.server_close()


def test_the_gcs_and_azure_clients_carry_the_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """gcsfs gets an aiohttp ClientTimeout as its requests_timeout; the azure-storage-blob
    client adlfs made is made again with the SDK's own timeout and retry settings, for the same
    account URL and credential (a connection string, an account name and key)."""
    pytest.importorskip("gcsfs")
    pytest.importorskip("adlfs")
    from mlstix.scan.remote import _fs, _waits

    for name in (READ_ENV, "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_CONNECTION_STRING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_fs, "reachable", lambda *args: None)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    gcs = _fs.filesystem(_fs.parse("gs://models/x"))
    assert gcs.requests_timeout.total == _waits.GCS_TIMEOUT
    assert gcs.requests_timeout.sock_connect == _waits.CONNECT_TIMEOUT
    monkeypatch.setenv(READ_ENV, "7")
    assert _fs.filesystem(_fs.parse("gs://models/y")).requests_timeout.total == 7.0

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", _azurite("http://127.0.0.1:9"))
    az = _fs.filesystem(_fs.parse("az://models/x"))
    client = az.service_client
    policy = client._config.retry_policy
    assert (policy.total_retries, policy.initial_backoff) == (_waits.AZ_RETRIES, 1)
    transport = client._pipeline._transport.connection_config
    assert (transport.timeout, transport.read_timeout) == (_waits.CONNECT_TIMEOUT, 7.0)
    assert client.url.startswith("http://127.0.0.1:9/devstoreaccount1")
    assert client.credential.account_name == "devstoreaccount1"
    assert az._timeout_kwargs == {"connection_timeout": _waits.CONNECT_TIMEOUT, "read_timeout": 7.0}

    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "acmemodels")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", _AZURITE_KEY)
    keyed = _fs.filesystem(_fs.parse("az://models/x")).service_client
    assert keyed.url == "https://acmemodels.blob.core.windows.net/"
    assert keyed.credential.account_name == "acmemodels"
    assert keyed._config.retry_policy.total_retries == _waits.AZ_RETRIES


def _sas_case(host: str, tmp_path: Path) -> None:
    pytest.importorskip("adlfs")
    sas = "sv=2024-01-01&ss=b&srt=sco&sp=rl&se=2030-01-01&sig=SECRETSIGNATURE%3D"
    conn = f"BlobEndpoint=http://{host}/devstoreaccount1;SharedAccessSignature={sas}"
    out = tmp_path / "report.json"
    env = _env(AZURE_STORAGE_CONNECTION_STRING=conn)
    proc, took = _run(env, out, "scan", "models", "az://models/x")
    _one_line(proc, out, took, "az://models/x", f"http://{host}/devstoreaccount1/")
    assert "SECRETSIGNATURE" not in proc.stderr + proc.stdout


def test_a_sas_token_never_reaches_the_error_line(silent: str, tmp_path: Path) -> None:
    """The endpoint named in the line is the account URL without its query: a connection
    string's SharedAccessSignature rides there (it was printed whole, signature included, for
    an endpoint that refused the connection)."""
    _sas_case(silent, tmp_path)
    _sas_case("127.0.0.1:9", tmp_path)
