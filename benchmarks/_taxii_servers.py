"""Servers of benchmarks/taxii_load.py: mlstix (``mlstix serve``), medallion (in a venv of its
own under benchmarks/.work/) and nginx (serving captured pages as static files), each started
on a free loopback port; and the STIX objects they are loaded with."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

WORK = Path(__file__).resolve().parent / ".work"
TAXII = "application/taxii+json;version=2.1"
HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
FINDINGS = "9d2c5e61-8b7a-4f3e-b0c4-1a6e2f7d3c58"  # mlstix's Findings collection
MEDALLION_COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"


def make_object(n: int) -> dict[str, Any]:
    oid = str(uuid.UUID(int=n + 1, version=4))
    stamp = f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00.000Z"
    common = {"spec_version": "2.1", "created": stamp, "modified": stamp}
    kind = n % 5
    if kind == 0:
        return {
            "type": "indicator",
            "id": f"indicator--{oid}",
            **common,
            "name": f"model file {n}",
            "pattern": f"[file:name = 'model-{n}.pt']",
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z",
            "indicator_types": ["malicious-activity"],
        }
    if kind == 1:
        return {
            "type": "vulnerability",
            "id": f"vulnerability--{oid}",
            **common,
            "name": f"weakness {n}",
            "description": "Unsafe deserialization of a model. " * 4,
        }
    if kind == 2:
        return {
            "type": "attack-pattern",
            "id": f"attack-pattern--{oid}",
            **common,
            "name": f"technique {n}",
            "description": "Tampering with model weights. " * 4,
        }
    if kind == 3:
        return {
            "type": "note",
            "id": f"note--{oid}",
            **common,
            "content": f"note {n} " * 20,
            "object_refs": [f"vulnerability--{uuid.UUID(int=n - 1, version=4)}"],
        }
    return {
        "type": "relationship",
        "id": f"relationship--{oid}",
        **common,
        "relationship_type": "related-to",
        "source_ref": f"attack-pattern--{uuid.UUID(int=n - 1, version=4)}",
        "target_ref": f"vulnerability--{uuid.UUID(int=n - 2, version=4)}",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_up(url: str, proc: subprocess.Popen[bytes], auth: Any, limit: float = 600) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}: {url}")
        try:
            if httpx.get(url, headers={"Accept": TAXII}, auth=auth, timeout=5).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server did not start: {url}")


def medallion_python() -> Path:
    venv = WORK / "medallion"
    python = venv / "bin" / "python"
    if not (venv / "bin" / "medallion").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "medallion==3.0.0"], check=True)
    return python


def start_medallion(objects: list[dict[str, Any]], port: int) -> subprocess.Popen[bytes]:
    python = medallion_python()
    root = f"http://127.0.0.1:{port}/api1/"
    base_us = 1_795_000_000_000_000
    manifest = []
    for i, obj in enumerate(objects):
        sec, us = divmod(base_us + i, 1_000_000)
        added = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{us:06d}Z"
        manifest.append(
            {
                "id": obj["id"],
                "date_added": added,
                "version": obj["modified"],
                "media_type": "application/stix+json;version=2.1",
            }
        )
    data = {
        "/discovery": {"title": "bench", "default": root, "api_roots": [root]},
        "api1": {
            "information": {
                "title": "bench",
                "versions": [TAXII],
                "max_content_length": 100_000_000,
            },
            "status": [],
            "collections": [
                {
                    "id": MEDALLION_COLLECTION,
                    "title": "bench",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": objects,
                    "manifest": manifest,
                }
            ],
        },
    }
    (WORK / "medallion-data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(WORK / "medallion-data.json"),
        },
        "users": {"bench": "bench-pass"},
        "taxii": {"max_page_size": 100},
    }
    (WORK / "medallion-config.json").write_text(json.dumps(config))
    log = (WORK / "medallion.log").open("wb")
    proc = subprocess.Popen(
        [
            str(python),
            "-m",
            "medallion.scripts.run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            str(WORK / "medallion-config.json"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_up(f"http://127.0.0.1:{port}/taxii2/", proc, ("bench", "bench-pass"))
    return proc


def start_mlstix(
    port: int,
    db_url: str | None,
    *,
    fresh: bool = True,
    workers: int = 1,
    log_requests: bool = False,
    cache_bytes: int = 64 * 1024 * 1024,
    src: str | None = None,
) -> subprocess.Popen[bytes]:
    """``mlstix serve`` on a fresh SQLite file, or on ``db_url`` (an empty PostgreSQL database);
    ``fresh=False`` serves the database of the previous start again; ``src``: mlstix from that
    source folder (another checkout's ``src``) instead of the installed one."""
    db = WORK / "mlstix-bench.sqlite3"
    url = db_url or f"sqlite:///{db}"
    config = WORK / "mlstix-bench.toml"
    config.write_text(
        "load_kb = false\nmax_content_length = 104857600\nmax_objects_per_envelope = 100000\n"
        f"page_cache_bytes = {cache_bytes}\n"
    )
    cli = [sys.executable, "-c", "from mlstix.cli.main import main; main()"]
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        subprocess.run(
            [*cli, "serve", "adduser", "bench", "--password-stdin", "--write", "findings"],
            input=b"bench-pass\n",
            env={**os.environ, "MLSTIX_TAXII_DB": url},
            check=True,
            capture_output=True,
        )
    log = (WORK / "mlstix.log").open("ab")
    env = {**os.environ, "MLSTIX_TAXII_DB": url}
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--config", str(config), "--workers", str(workers)]
        + ([] if log_requests else ["--no-access-log"]),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    wait_up(f"http://127.0.0.1:{port}/taxii2/", proc, None)
    return proc


NGINX_CONF = """daemon off;
worker_processes {workers};
pid {run}/nginx.pid;
error_log {run}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    types {{ }}
    default_type "application/taxii+json;version=2.1";
    server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
"""


def start_nginx(root: Path, port: int, workers: str) -> subprocess.Popen[bytes] | None:
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if binary is None:
        print("nginx: not installed (apt-get install nginx-light); its rows are skipped")
        return None
    run = root.parent / "run"
    run.mkdir(exist_ok=True)
    conf = run / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, run=run, port=port, root=root.parent))
    proc = subprocess.Popen(
        [binary, "-c", str(conf), "-p", str(run)],
        stdout=subprocess.DEVNULL,
        stderr=(run / "stderr.log").open("wb"),
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    print(f"nginx did not start: {(run / 'stderr.log').read_text()[-500:]}")
    return None
