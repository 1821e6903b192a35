"""Local servers for the remote scan tests and the benchmark: moto's S3 in server mode, the
Cloud Storage emulator, Azurite, and a minimal Hugging Face Hub."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_MAX_ATTEMPTS": "2",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 in server mode on loopback; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def put_all(client: Any, bucket: str, objects: dict[str, bytes], threads: int = 16) -> None:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]),
                      objects.items()))  # fmt: skip


def put_direct(bucket: str, objects: dict[str, bytes]) -> None:
    """Store objects straight into the in-process moto server's backend (thousands of keys in
    a moment; listing and reading them still go through HTTP)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key, body in objects.items():
        backend.put_object(bucket, key, body)


def azurite_command() -> list[str] | None:
    """Azurite's blob service from the checkout's .cache/npm (scripts/test-deps.sh) or PATH."""
    local = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "azurite-blob"
    if local.exists() and shutil.which("node"):
        return [str(local)]
    found = shutil.which("azurite-blob")
    return [found] if found else None


@contextlib.contextmanager
def azurite(workdir: Path) -> Iterator[str]:
    """Azurite's blob service on loopback; yields its connection string (the emulator's
    published development account)."""
    cmd = azurite_command()
    assert cmd is not None
    port = free_port()
    proc = subprocess.Popen(
        [*cmd, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(workdir),
         "--silent", "--skipApiVersionCheck", "--loose"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port)
        account = "devstoreaccount1"
        key = (  # Azurite's published development key, not a secret
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
            "K1SZFPTOtr/KBHBeksoGMGw=="
        )
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{account};"
        )
    finally:
        proc.kill()  # a throwaway emulator over a temporary folder: no graceful stop needed
        proc.wait()


@contextlib.contextmanager
def gcs_emulator() -> Iterator[str]:
    """The gcp-storage-emulator (the Cloud Storage JSON API) in memory on loopback; yields the
    value for STORAGE_EMULATOR_HOST."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_", "HF_"))}
    env.update(extra)
    return env
