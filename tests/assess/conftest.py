"""Fixtures of the assess tests: one seeded local AWS per session, pointed at by each test."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.assess.aws_support import Recorded, local_aws

SECRET = "mlstix-test-secret-5f1c9a"  # the secret key the tests give boto3; must never leak
ACCESS_KEY = "AKIAMLSTIXTESTKEY001"
REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture(scope="session")
def aws_server() -> Iterator[tuple[str, Recorded]]:
    pytest.importorskip("moto.server", reason="moto[server] (dev extra) is not installed")
    pytest.importorskip("boto3", reason="boto3 (assess extra) is not installed")
    with local_aws() as (url, recorded):
        import boto3

        from tests.assess.aws_seed import seed

        mp = pytest.MonkeyPatch()
        _env(mp, url)
        try:
            seed(boto3.Session(), recorded)
        finally:
            mp.undo()
        yield url, recorded


def _env(mp: pytest.MonkeyPatch, url: str) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        mp.delenv(name, raising=False)
    mp.setenv("AWS_ENDPOINT_URL", url)
    mp.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
    mp.setenv("AWS_CONFIG_FILE", "/nonexistent/mlstix-test/config")
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/mlstix-test/credentials")


@pytest.fixture
def aws(aws_server: tuple[str, Recorded], monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    """The seeded account for one test; the proxy's denials and STS errors reset after it.

    S3 Control puts the account id in front of the endpoint host (``123456789012.127.0.0.1``),
    which no resolver knows; the test resolves such names to loopback, as DNS would in AWS."""
    url, recorded = aws_server
    _env(monkeypatch, url)
    real = REAL_GETADDRINFO

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".127.0.0.1"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield recorded
    recorded.denied.clear()
    recorded.sts_error = None
