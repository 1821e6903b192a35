"""``--executor ray`` on a real local Ray cluster (``ray start --head`` in a temporary folder,
stopped by process group, never by ``ray stop``, which would stop every cluster on the
machine): the report equals the local executor's, byte for byte."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import registry, servers

pytest.importorskip("s3fs", reason="mlstix[remote] is not installed")
pytest.importorskip("ray", reason="mlstix[ray] is not installed")

pytestmark = pytest.mark.slow

_PORTS = ("node-manager-port", "object-manager-port", "metrics-export-port",
          "dashboard-agent-grpc-port", "dashboard-agent-listen-port", "runtime-env-agent-port",
          "ray-client-server-port")  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, dict[str, str]]]:
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        pytest.skip(f"no ray command beside {sys.executable}")
    with servers.moto_s3() as endpoint:
        client = servers.s3_client(endpoint)
        client.create_bucket(Bucket="models")
        files = {f"reg/a/{k}": v for k, v in registry.hostile().items()}
        files |= {f"reg/b/{k}": v for k, v in registry.benign().items()}
        servers.put_all(client, "models", files)
        # the cluster's workers get credentials from their own environment, as pods would
        env = servers.child_env(**servers.S3_ENV, AWS_ENDPOINT_URL=endpoint,
                                RAY_raylet_start_wait_time_s="240")  # fmt: skip
        temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths
        port = servers.free_port()
        # without --block, `ray start` returns once the node is up (exit 0) or failed
        head = subprocess.run(
            [str(ray_bin), "start", "--head", f"--port={port}", f"--temp-dir={temp}",
             "--node-ip-address=127.0.0.1", "--num-cpus=2", "--include-dashboard=false",
             "--disable-usage-stats", *(f"--{p}={servers.free_port()}" for p in _PORTS)],
            env=env, start_new_session=True, capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        try:
            if head.returncode != 0:
                pytest.skip(f"a local Ray cluster did not start: {head.stderr.strip()[-300:]}")
            yield f"127.0.0.1:{port}", env
        finally:
            # the cluster's processes, found by their temporary folder on the command line
            # (SIGTERM would make Ray drain for 30 s; `ray stop` would stop every cluster)
            for pid in _pids_using(temp):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            shutil.rmtree(temp, ignore_errors=True)


def _pids_using(folder: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if folder.encode() in (entry / "cmdline").read_bytes():
                    out.append(int(entry.name))
    return out


def test_ray_executor_report_equals_local(cluster: tuple[str, dict[str, str]]) -> None:
    address, env = cluster

    def scan(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlstix", "scan", "models", "s3://models/reg",
             "--format", "json", *extra],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip

    on_ray = scan("--executor", "ray", "--ray-address", address)
    local = scan()
    assert "Traceback" not in on_ray.stderr
    assert on_ray.returncode == local.returncode == 2  # the malformed hostile safetensors
    assert on_ray.stdout == local.stdout, on_ray.stderr
    data = json.loads(on_ray.stdout)
    critical = {f["location"]["path"].rsplit("/", 1)[1]
                for f in data["findings"] if f["severity"] == "critical"}  # fmt: skip
    assert critical == set(registry.hostile())


_CAPPED = """
import json, sys
from mlstix.kb.load import load_kb
from mlstix.scan.models import Limits, ScanOptions
from mlstix.scan.remote import RemoteOptions, scan_remote

options = ScanOptions(hash_files=False, limits=Limits(max_memory=1 << 20, timeout=2))
remote = RemoteOptions(executor="ray", ray_address=sys.argv[1], in_flight=2)
report = scan_remote(["s3://models/reg/a"], load_kb, options, remote)
print(json.dumps(sorted(e.message for e in report.errors)))
"""


def test_ray_task_limits_cost_the_file_not_the_worker(cluster: tuple[str, dict[str, str]]) -> None:
    """Each task analyses in a child capped like the local executor's: with 1 MiB of room the
    child cannot start its store client's thread and is stopped at the deadline (2 s + 2 s of
    grace), so every file is an errors entry, and the workers go on to run the next scan."""
    address, env = cluster
    capped = subprocess.run([sys.executable, "-c", _CAPPED, address], env=env,
                            capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert capped.returncode == 0, capped.stderr
    messages = json.loads(capped.stdout)
    assert len(messages) == len(registry.hostile()), messages
    full = subprocess.run(
        [sys.executable, "-m", "mlstix", "scan", "models", "s3://models/reg/a", "--format",
         "json", "--executor", "ray", "--ray-address", address],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    data = json.loads(full.stdout)
    errors = {e["path"].rsplit("/", 1)[1]: e["message"] for e in data["errors"]}
    assert "zip_after_tensors.safetensors" in errors, full.stderr  # malformed, as locally
    assert not [m for m in errors.values() if "longer than" in m or "Ray task" in m], errors
    assert len(data["scanned"]) == len(registry.hostile())
