"""Load benchmark of the mlstix TAXII 2.1 server against the OASIS reference server medallion.

Both servers hold the same N STIX 2.1 objects (default 100,000) in one collection and are driven
on loopback, with bounded loops:

- paged object reads: GET .../objects/?limit=100, following ``next`` (restarting at the end);
- paged manifest reads: the same on .../manifest/;
- posts: POST envelopes of 100 new objects into the full collection;
- follow-on pages against the limit: ``--pages`` pages (default 200) of 100 objects read by
  following ``next``, by one client and by four client processes, from mlstix (one process and
  ``--workers`` processes), from nginx serving the very page bytes mlstix served as static files
  (the limit: no work but sending bytes), and from medallion. The client is a wrk-like loopback
  client written here (raw sockets, keep-alive, Content-Length framing, the cursor found with one
  regex): the same client and the same per-page work for every server. nginx comes from Debian
  (``apt-get install nginx-light``); without it that row is skipped with a message.

mlstix runs as ``mlstix serve`` (uvicorn, SQLite file in WAL mode with synchronous=FULL) and is
loaded through its own POST endpoint (the bulk load is timed too). medallion 3.0.0 runs with its
memory backend (Flask's server), loaded from its JSON data file, in a venv of its own under
benchmarks/.work/. medallion is given only objects it can hold: no extension-definition (it
answers 500 once one is stored, DESIGN.md), so the objects are indicators, vulnerabilities,
attack patterns, notes and relationships.

Usage: .venv/bin/python benchmarks/taxii_load.py [--objects 100000] [--reads 200] [--posts 20]
       [--pages 200] [--seconds 5] [--workers 2] [--only-pages]
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import re
import shutil
import socket
import statistics
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
KINDS = ("objects", "manifest", "posts")


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
) -> subprocess.Popen[bytes]:
    """``mlstix serve`` on a fresh SQLite file, or on ``db_url`` (an empty PostgreSQL database);
    ``fresh=False`` serves the database of the previous start again."""
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
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--config", str(config), "--workers", str(workers)]
        + ([] if log_requests else ["--no-access-log"]),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MLSTIX_TAXII_DB": url},
    )
    wait_up(f"http://127.0.0.1:{port}/taxii2/", proc, None)
    return proc


class Stats:
    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[float] = []
        self.errors = 0
        self.elapsed = 0.0
        self.note = ""

    def row(self) -> str:
        if not self.latencies:
            return f"{self.name:34s} {'-':>6s} {self.errors:>4d}  {self.note}"
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return (
            f"{self.name:34s} {len(lat):>6d} {self.errors:>4d} {self.rps:>9.1f} "
            f"{p50:>9.1f} {p99:>9.1f}  {self.note}"
        )

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


def paged_reads(
    client: httpx.Client, url: str, name: str, requests: int, budget: float, timeout: float
) -> Stats:
    stats = Stats(name)
    start = time.monotonic()
    nxt: str | None = None
    while len(stats.latencies) + stats.errors < requests and time.monotonic() - start < budget:
        params: dict[str, Any] = {"limit": 100}
        if nxt:
            params["next"] = nxt
        t0 = time.perf_counter()
        try:
            resp = client.get(url, params=params, headers={"Accept": TAXII}, timeout=timeout)
        except httpx.TimeoutException:
            stats.errors += 1
            stats.note = f"a request did not answer within {timeout:.0f} s; stopped"
            break
        dt = time.perf_counter() - t0
        if resp.status_code != 200:
            stats.errors += 1
            nxt = None  # e.g. medallion's 'next' session expired: start over
            continue
        stats.latencies.append(dt)
        body = resp.json()
        nxt = body.get("next") if body.get("more") else None
    stats.elapsed = sum(stats.latencies)
    return stats


def posts(
    client: httpx.Client,
    url: str,
    name: str,
    first: int,
    count: int,
    size: int,
    budget: float,
    timeout: float,
) -> Stats:
    stats = Stats(name)
    start = time.monotonic()
    for i in range(count):
        if time.monotonic() - start > budget:
            stats.note = f"stopped after the {budget:.0f} s budget"
            break
        batch = [make_object(first + i * size + k) for k in range(size)]
        body = json.dumps({"objects": batch})
        t0 = time.perf_counter()
        try:
            resp = client.post(url, content=body, headers=HEADERS, timeout=timeout)
        except httpx.TimeoutException:
            stats.errors += 1
            stats.note = f"a POST did not answer within {timeout:.0f} s; stopped"
            break
        dt = time.perf_counter() - t0
        if resp.status_code != 202 or resp.json().get("success_count") != size:
            stats.errors += 1
            continue
        stats.latencies.append(dt)
    stats.elapsed = sum(stats.latencies)
    return stats


def measure(
    client: httpx.Client, base: str, server: str, kind: str, args: argparse.Namespace
) -> Stats:
    """One measurement: paged ``objects`` or ``manifest`` reads, or ``posts``."""
    if kind == "posts":
        return posts(
            client,
            f"{base}objects/",
            f"{server} posts",
            10_000_000,
            args.posts,
            args.post_size,
            args.budget,
            args.timeout,
        )
    return paged_reads(
        client, f"{base}{kind}/", f"{server} paged {kind}", args.reads, args.budget, args.timeout
    )


# -- follow-on pages against the limit -------------------------------------------------------

NEXT = re.compile(rb'"next":\s*"([^"]*)"')
LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
CLOSE = re.compile(rb"(?i)\r\nconnection:\s*close")


class RawClient:
    """A wrk-like HTTP/1.1 client: one keep-alive socket, Content-Length framing, no parsing
    beyond the status, the length and (by the caller) one regex."""

    def __init__(self, port: int, auth: tuple[str, str] | None) -> None:
        self.port = port
        self.sock = self._connect()
        head = f"Host: 127.0.0.1:{port}\r\nAccept: {TAXII}\r\n"
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            head += f"Authorization: Basic {token}\r\n"
        self.head = head.encode() + b"\r\n"
        self.buf = bytearray()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def get(self, target: bytes) -> tuple[int, bytes]:
        self.sock.sendall(b"GET " + target + b" HTTP/1.1\r\n" + self.head)
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            chunk = self.sock.recv(262144)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
        head = bytes(buf[:end])
        match = LENGTH.search(head)
        if match is None:
            raise ConnectionError(f"no Content-Length: {head[:200]!r}")
        need = end + 4 + int(match.group(1))
        while len(buf) < need:
            chunk = self.sock.recv(262144)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
        body = bytes(buf[end + 4 : need])
        del buf[:need]
        if CLOSE.search(head):  # medallion's development server closes after each answer
            self.sock.close()
            self.sock = self._connect()
            buf.clear()
        return int(head[9:12]), body

    def close(self) -> None:
        self.sock.close()


def follow(port: int, path: str, auth: Any, pages: int, seconds: float) -> tuple[int, float, int]:
    """Follow ``next`` from the first page for ``pages`` pages, over and over for ``seconds``;
    (follow-on pages, their total seconds, errors). ``path`` with ``{i}`` names static files."""
    client = RawClient(port, auth)
    static = "{i}" in path
    done = errors = 0
    spent = 0.0
    stop = float("inf")  # the clock starts after the first page (medallion's takes minutes)
    try:
        while time.perf_counter() < stop:
            cursor: bytes | None = None
            for i in range(pages):
                if static:
                    target = path.format(i=i).encode()
                elif cursor is None:
                    target = path.encode() + b"?limit=100"
                else:
                    target = path.encode() + b"?limit=100&next=" + cursor
                t0 = time.perf_counter()
                status, body = client.get(target)
                match = NEXT.search(body)
                dt = time.perf_counter() - t0
                if status != 200:
                    errors += 1
                    break
                if i:
                    done += 1
                    spent += dt
                elif stop == float("inf"):
                    stop = time.perf_counter() + seconds
                cursor = match.group(1) if match else None
                if (cursor is None and not static) or time.perf_counter() >= stop:
                    break
    finally:
        client.close()
    return done, spent, errors


def _follow(job: tuple[int, str, Any, int, float]) -> tuple[int, float, int]:
    return follow(*job)


def follow_rate(
    port: int, path: str, auth: Any, pages: int, seconds: float, clients: int
) -> tuple[float, int]:
    """Follow-on pages per second and errors, with ``clients`` client processes."""
    if clients == 1:
        done, spent, errors = follow(port, path, auth, pages, seconds)
        return (done / spent if spent else 0.0), errors
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        t0 = time.perf_counter()
        results = pool.map(_follow, [(port, path, auth, pages, seconds)] * clients)
        wall = time.perf_counter() - t0
    return sum(r[0] for r in results) / wall, sum(r[2] for r in results)


def capture_pages(port: int, path: str, auth: Any, pages: int, root: Path) -> tuple[int, float]:
    """Save the bytes of the first ``pages`` pages mlstix serves as static files; (pages, seconds
    of the follow-on requests). This first pass is cold: nothing is in mlstix's page cache."""
    client = RawClient(port, auth)
    cursor: bytes | None = None
    spent = 0.0
    try:
        for i in range(pages):
            suffix = b"?limit=100" + (b"&next=" + cursor if cursor else b"")
            t0 = time.perf_counter()
            status, body = client.get(path.encode() + suffix)
            match = NEXT.search(body)
            spent += (time.perf_counter() - t0) if i else 0.0
            if status != 200:
                raise SystemExit(f"mlstix answered {status} on page {i}")
            (root / f"{i}.json").write_bytes(body)
            if match is None:
                return i + 1, spent
            cursor = match.group(1)
    finally:
        client.close()
    return pages, spent


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


def against_the_limit(args: argparse.Namespace, objects: list[dict[str, Any]]) -> None:
    """Follow-on pages: mlstix (1 and --workers processes), nginx on the same bytes, medallion."""
    import tempfile

    auth = ("bench", "bench-pass")
    path = f"/mlstix/collections/{FINDINGS}/objects/"
    rows: dict[str, float] = {}
    web = Path(tempfile.mkdtemp(prefix="mlstix-nginx-"))
    web.chmod(0o755)
    pages_root = web / "p"
    pages_root.mkdir(mode=0o755)
    # (label, processes, page cache bytes): without the cache every page is a cold read.
    setups = [
        ("no cache", 1, 0),
        ("no cache", args.workers, 0),
        ("cache", 1, 64 << 20),
        ("cache", args.workers, 64 << 20),
    ]
    count = 0
    for label, workers, cache in setups:
        port = free_port()
        proc = start_mlstix(port, args.mlstix_db, fresh=False, workers=workers, cache_bytes=cache)
        try:
            if not count:
                count, _ = capture_pages(port, path, auth, args.pages, pages_root)
                for f in pages_root.iterdir():
                    f.chmod(0o644)
                size = sum(f.stat().st_size for f in pages_root.iterdir())
                print(f"{count} pages captured, {size / 1e6:.1f} MB")
            for clients in (1, 4) if workers == 1 else (4,):
                rate, errors = follow_rate(port, path, auth, args.pages, args.seconds, clients)
                rows[f"mlstix {label} {workers} proc, {clients} client"] = rate
                print(
                    f"mlstix ({label}) {workers} process(es), {clients} client(s): "
                    f"{rate:8.0f} pages/s ({errors} errors)"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    port = free_port()
    nginx = start_nginx(pages_root, port, "auto")
    if nginx is not None:
        try:
            for clients in (1, 4):
                rate, errors = follow_rate(port, "/p/{i}.json", None, count, args.seconds, clients)
                rows[f"nginx, {clients} client"] = rate
                print(
                    f"nginx (same bytes), {clients} client(s): "
                    f"{rate:8.0f} pages/s ({errors} errors)"
                )
        finally:
            nginx.terminate()
            nginx.wait(timeout=30)
    if not args.no_medallion:
        port = free_port()
        proc = start_medallion(objects, port)
        try:
            mpath = f"/api1/collections/{MEDALLION_COLLECTION}/objects/"
            rate, errors = follow_rate(port, mpath, auth, args.pages, args.seconds, 1)
            rows["medallion, 1 client"] = rate
            print(f"medallion, 1 client: {rate:8.1f} pages/s ({errors} errors)")
        finally:
            proc.kill()
            proc.wait(timeout=30)
    shutil.rmtree(web, ignore_errors=True)
    cold = rows.get("mlstix no cache 1 proc, 1 client", 0.0)
    one = rows.get("mlstix cache 1 proc, 1 client", 0.0)
    four = rows.get(f"mlstix cache {args.workers} proc, 4 client", 0.0)
    print()
    if rows.get("nginx, 1 client"):
        nginx_one = rows["nginx, 1 client"]
        print(f"sequential, cold (no cache): mlstix/nginx = {cold / nginx_one:.3f}x")
        print(f"sequential, page cache:      mlstix/nginx = {one / nginx_one:.3f}x (target 0.25x)")
    if rows.get("nginx, 4 client"):
        print(
            f"4 clients, {args.workers} processes: mlstix/nginx = "
            f"{four / rows['nginx, 4 client']:.3f}x"
        )
    one_four = rows.get("mlstix cache 1 proc, 4 client", 0.0)
    if one and one_four:
        print(
            f"4 clients over 1 client (cache): 1 process {one_four / one:.2f}x, "
            f"{args.workers} processes {four / one:.2f}x"
        )
    cold_four = rows.get("mlstix no cache 1 proc, 4 client", 0.0)
    cold_workers = rows.get(f"mlstix no cache {args.workers} proc, 4 client", 0.0)
    if cold and cold_four and cold_workers:
        print(
            f"4 clients over 1 client (no cache): 1 process {cold_four / cold:.2f}x, "
            f"{args.workers} processes {cold_workers / cold:.2f}x"
        )
    if rows.get("medallion, 1 client") and cold:
        print(
            f"follow-on pages, cold: mlstix/medallion = "
            f"{cold / rows['medallion, 1 client']:.1f}x (keep >= 5x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=200, help="paged reads per server and kind")
    parser.add_argument("--posts", type=int, default=20, help="POSTs of --post-size objects")
    parser.add_argument("--post-size", type=int, default=100)
    parser.add_argument("--budget", type=float, default=120, help="seconds per measurement")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per request")
    parser.add_argument("--mlstix-db", help="database URL for mlstix (default: a SQLite file)")
    parser.add_argument("--no-medallion", action="store_true", help="measure mlstix only")
    parser.add_argument("--pages", type=int, default=200, help="pages followed per pass")
    parser.add_argument("--seconds", type=float, default=5, help="seconds per page measurement")
    parser.add_argument("--workers", type=int, default=2, help="mlstix processes, 4 clients")
    parser.add_argument("--only-pages", action="store_true", help="load, then pages only")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    objects = [make_object(n) for n in range(args.objects)]
    print(f"{args.objects} objects, {sum(len(json.dumps(o)) for o in objects) / 1e6:.1f} MB")
    results: dict[str, dict[str, Stats]] = {}

    port = free_port()
    proc = start_mlstix(port, args.mlstix_db)
    try:
        base = f"http://127.0.0.1:{port}/mlstix/collections/{FINDINGS}/"
        with httpx.Client(auth=("bench", "bench-pass")) as client:
            load = Stats("mlstix bulk load (POST 500/req)")
            t0 = time.perf_counter()
            for start in range(0, len(objects), 500):
                body = json.dumps({"objects": objects[start : start + 500]})
                t1 = time.perf_counter()
                resp = client.post(f"{base}objects/", content=body, headers=HEADERS, timeout=600)
                load.latencies.append(time.perf_counter() - t1)
                if resp.status_code != 202 or resp.json()["failure_count"]:
                    raise SystemExit(f"mlstix refused the load: {resp.text[:500]}")
            load.elapsed = time.perf_counter() - t0
            load.note = f"{len(objects) / load.elapsed:.0f} objects/s"
            results["mlstix"] = {"load": load}
            if args.only_pages:
                proc.terminate()
                proc.wait(timeout=30)
                against_the_limit(args, objects)
                return
            for kind in KINDS:
                results["mlstix"][kind] = measure(client, base, "mlstix", kind, args)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    # A fresh medallion per measurement: a request that timed out keeps its worker thread busy
    # and would slow the next measurement down.
    results["medallion"] = {}
    for kind in () if args.no_medallion else KINDS:
        port = free_port()
        t0 = time.perf_counter()
        proc = start_medallion(objects, port)
        print(f"medallion started with the data file in {time.perf_counter() - t0:.1f} s")
        try:
            base = f"http://127.0.0.1:{port}/api1/collections/{MEDALLION_COLLECTION}/"
            with httpx.Client(auth=("bench", "bench-pass")) as client:
                results["medallion"][kind] = measure(client, base, "medallion", kind, args)
        finally:
            proc.kill()
            proc.wait(timeout=30)

    print(
        f"\n{'measurement':34s} {'reqs':>6s} {'err':>4s} {'req/s':>9s} {'p50 ms':>9s} "
        f"{'p99 ms':>9s}"
    )
    for server in results.values():
        for stats in server.values():
            print(stats.row())
    print()
    against_the_limit(args, objects)
    print()
    for kind in () if args.no_medallion else KINDS:
        ours, theirs = results["mlstix"][kind], results["medallion"][kind]
        if ours.rps and theirs.rps:
            print(f"{kind}: mlstix/medallion throughput = {ours.rps / theirs.rps:.1f}x")
        elif ours.rps:
            bound = ours.rps * args.timeout
            print(f"{kind}: medallion gave no answer in {args.timeout:.0f} s; ratio > {bound:.0f}x")


if __name__ == "__main__":
    main()
