"""An endpoint that accepts no connection is said as such, in one line and exit 2, within the
connect timeout (5 s), for every store and for a Ray cluster address: the libraries' own
retries took 11 s (s3fs), 37 s (gcsfs), 174 s (adlfs) and minutes (``ray.init``). The
standard proxy settings are followed: with a proxy, it is the proxy that must answer."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlstix.scan.remote import _fs
from mlstix.scan.remote._fs import RemoteError, reachable

from . import servers

_AZURITE_KEY = (  # the emulator's published development key, not a secret
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _closed() -> str:
    return f"http://127.0.0.1:{servers.free_port()}"


def _run(
    env: dict[str, str], *args: str, out: Path
) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "mlstix", *args, "--format", "json", "-o", str(out)],
        env=servers.child_env(**env), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return proc, time.monotonic() - start


def _one_clear_line(proc: subprocess.CompletedProcess[str], out: Path, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
    first = proc.stderr.splitlines()[0]
    assert first.startswith("error: ") and all(w in first for w in words), proc.stderr


@pytest.mark.parametrize(
    ("module", "url", "env"),
    [
        ("s3fs", "s3://models/x", lambda e: {**servers.S3_ENV, "AWS_ENDPOINT_URL": e}),
        ("gcsfs", "gs://models/x", lambda e: {"STORAGE_EMULATOR_HOST": e}),
        ("adlfs", "az://models/x", lambda e: {"AZURE_STORAGE_CONNECTION_STRING": (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={_AZURITE_KEY};BlobEndpoint={e}/devstoreaccount1;")}),
        ("huggingface_hub", "hf://acme/demo", lambda e: {"HF_ENDPOINT": e}),
    ],
    ids=["s3", "gs", "az", "hf"],
)  # fmt: skip
def test_unreachable_store_is_one_line_exit_2_at_once(
    module: str, url: str, env: object, tmp_path: Path
) -> None:
    pytest.importorskip(module, reason="mlstix[remote] is not installed")
    endpoint = _closed()
    assert callable(env)
    proc, took = _run(env(endpoint), "scan", "models", url, out=tmp_path / "r.json")
    _one_clear_line(proc, tmp_path / "r.json", url, "cannot reach", endpoint, "refused")
    assert took < 30, f"{took:.0f} s"  # a hang guard; was 174 s for az://


def test_unreachable_ray_address_is_one_line_exit_2_at_once(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="mlstix[ray] is not installed")
    pytest.importorskip("s3fs", reason="mlstix[remote] is not installed")
    port = servers.free_port()
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        proc, took = _run(
            {**servers.S3_ENV, "AWS_ENDPOINT_URL": _closed()}, "scan", "models", "s3://m/x",
            "--executor", "ray", "--ray-address", address, out=tmp_path / "r.json",
        )  # fmt: skip
        _one_clear_line(proc, tmp_path / "r.json", "cannot connect to the Ray cluster",
                        f"127.0.0.1:{port}", "refused")  # fmt: skip
        assert took < 60, f"{took:.0f} s"  # ray.init waited for minutes


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_the_proxy_is_what_must_answer(monkeypatch: pytest.MonkeyPatch, listening: int) -> None:
    monkeypatch.setattr(_fs, "_reached", set())
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RemoteError, match=r"name store\.invalid does not resolve"):
        reachable("https://store.invalid", "cannot reach", "settings")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{listening}")
    reachable("https://store.invalid", "cannot reach", "settings")  # the proxy answers
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{listening}")  # all schemes
    reachable("https://other.invalid", "cannot reach", "settings")
    monkeypatch.setenv("HTTPS_PROXY", _closed())
    monkeypatch.setattr(_fs, "_reached", set())
    with pytest.raises(RemoteError, match=r"through the proxy 127\.0\.0\.1: connection refused"):
        reachable("https://store.invalid", "cannot reach", "settings")
    monkeypatch.setenv("NO_PROXY", "store.invalid")
    with pytest.raises(RemoteError, match="does not resolve"):
        reachable("https://store.invalid", "cannot reach", "settings")


def test_a_silent_endpoint_is_cut_at_the_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fs, "CONNECT_TIMEOUT", 0.2)

    def silent(address: tuple[str, int], timeout: float) -> socket.socket:
        assert timeout == 0.2
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    with pytest.raises(RemoteError, match=r"nothing answered within 0\.2 s"):
        reachable("https://s3.example.com", "s3://b: cannot reach", "settings")
