"""Benchmark: scanning a model registry in S3 where it lives (``mlstix scan models s3://...``)
against what users do today: download it (``aws s3 sync``) and scan the copy (picklescan,
modelscan).

A local S3 (moto in server mode) behind a proxy that adds a per-request latency like a real
region's is filled with a registry of models: safetensors shards with their config, PyTorch zip
checkpoints, pickles and GGUF files, with payloads planted in some (a pickle, a checkpoint's
data.pkl stored after its tensors, a polyglot). Then, in one run:

- mlstix, local executor: first scan (with --state), and a rescan after 1% of objects changed
  (the median of five, each starting from the state the first scan left, every one printed: a
  rescan takes under a second, so one run would measure mostly the other load of the machine);
- mlstix on a local Ray cluster (``ray start --head`` in a temporary folder), first scan;
- baseline: ``aws s3 sync`` to a folder, then picklescan and modelscan on it; after another 1%
  change, ``aws s3 sync`` again and picklescan over the whole copy (what a nightly job does
  today).

It prints files/s, bytes fetched against the registry's bytes, the rescan's speed-up, and which
planted payloads each tool found.

    python benchmarks/scan_remote.py                     # 400 models, 20 ms per request
    python benchmarks/scan_remote.py --models 120        # a small registry: start-up weighs more
    python benchmarks/scan_remote.py --models 300 --shard-mib 16 --latency-ms 30
    python benchmarks/scan_remote.py --no-ray --no-baseline

The peer tools are installed into benchmarks/.work/scan_models/venv (shared with
benchmarks/scan_models.py); ``aws`` (the AWS CLI) must be on PATH for the baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.scan_remote import registry, servers  # noqa: E402

WORK = HERE / ".work" / "scan_remote"
PEERS = HERE / ".work" / "scan_models" / "venv"
MLSTIX = [sys.executable, "-m", "mlstix"]
MiB = 1 << 20


# -- the registry ------------------------------------------------------------------------------


def build(models: int, shard: int, seed: int = 7) -> tuple[dict[str, bytes], set[str]]:
    """key -> bytes, and the keys holding a planted payload (about 5% of the models)."""
    rnd = random.Random(seed)
    objects: dict[str, bytes] = {}
    planted: set[str] = set()
    kinds = ["safetensors"] * 10 + ["torch"] * 4 + ["pickle"] * 3 + ["gguf"] * 3
    for i in range(models):
        kind = kinds[i % len(kinds)]
        base = f"models/{kind}-{i:04d}"
        evil = rnd.random() < 0.05 or i in (1, 2, 3)
        tag = b"%d" % i
        if kind == "safetensors":
            objects[f"{base}/config.json"] = json.dumps(
                {"architectures": ["Demo"], "i": i}
            ).encode()
            for s in (1, 2):
                objects[f"{base}/model-0000{s}-of-00002.safetensors"] = registry.safetensors(
                    4, shard // 4, tag + b"%d" % s
                )
            if evil:  # a pickle shipped beside the shards, as some repositories do
                objects[f"{base}/training_args.bin"] = registry.PAYLOAD
                planted.add(f"{base}/training_args.bin")
        elif kind == "torch":
            pkl = registry.PAYLOAD if evil else registry.benign_pickle()
            objects[f"{base}/pytorch_model.bin"] = registry.torch_zip(pkl, shard, payload_last=evil)
            if evil:
                planted.add(f"{base}/pytorch_model.bin")
        elif kind == "pickle":
            body = registry.hostile()["polyglot.pkl"] if evil else registry.benign_pickle() * 1
            objects[f"{base}/model.pkl"] = body + (b"" if evil else bytes(512 << 10))
            if evil:
                planted.add(f"{base}/model.pkl")
        else:
            objects[f"{base}/model.gguf"] = registry.gguf(shard + shard // 2)
    return objects, planted


# -- S3 with latency ---------------------------------------------------------------------------


def _proxy(upstream: tuple[str, int], latency: float, rate: float) -> type[BaseHTTPRequestHandler]:
    local = threading.local()

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            import socket

            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _handle(self) -> None:
            time.sleep(latency)  # time to first byte of a real region
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn = getattr(local, "conn", None) or http.client.HTTPConnection(*upstream)
            local.conn = conn
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError):
                local.conn = None
                raise
            if rate and self.command == "GET":
                time.sleep(len(data) / rate)  # one connection's throughput
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Proxy


class _Server(ThreadingHTTPServer):
    # a region accepts every connection at once: socketserver's default backlog of 5 drops
    # SYNs when a scan opens a few dozen connections together, and each drop costs a 1 s
    # retransmission that no real endpoint would add
    request_queue_size = 1024
    daemon_threads = True


@contextlib.contextmanager
def s3_with_latency(latency_ms: float, mbps: float) -> Iterator[str]:
    with servers.moto_s3() as endpoint:
        host, port = endpoint.rsplit("//", 1)[1].split(":")
        proxy = _Server(
            ("127.0.0.1", 0), _proxy((host, int(port)), latency_ms / 1e3, mbps * 1e6 / 8)
        )
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{proxy.server_address[1]}"
        finally:
            proxy.shutdown()
            proxy.server_close()


# -- runs --------------------------------------------------------------------------------------


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc


def _cpu() -> float:
    """CPU seconds of this process's finished children (an mlstix run and its workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def mlstix_scan(env: dict[str, str], *extra: str) -> dict[str, Any]:
    cpu = _cpu()
    seconds, proc = run([*MLSTIX, "scan", "models", "s3://bench/models", "--format", "json",
                         *extra], env)  # fmt: skip
    cpu = _cpu() - cpu
    if proc.returncode not in (0, 1, 2) or not proc.stdout:
        sys.exit(f"mlstix failed ({proc.returncode}): {proc.stderr[-2000:]}")
    doc = json.loads(proc.stdout)
    found = {f["location"]["path"].removeprefix("s3://bench/")
             for f in doc["findings"] if f["severity"] in ("critical", "high")}  # fmt: skip
    fetched = sum(s.get("bytes_fetched") or 0 for s in doc["scanned"])
    by_kind: dict[str, int] = {}
    for s in doc["scanned"]:
        by_kind[s["kind"]] = by_kind.get(s["kind"], 0) + (s.get("bytes_fetched") or 0)
    return {"seconds": seconds, "found": found, "fetched": fetched, "by_kind": by_kind,
            "stderr": proc.stderr.strip(), "cpu": cpu}  # fmt: skip


@contextlib.contextmanager
def ray_cluster(env: dict[str, str]) -> Iterator[str | None]:
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        yield None
        return
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    port = servers.free_port()
    ports = ("node-manager-port", "object-manager-port", "metrics-export-port",
             "dashboard-agent-grpc-port", "dashboard-agent-listen-port",
             "runtime-env-agent-port", "ray-client-server-port")  # fmt: skip
    proc = subprocess.run(
        [str(ray_bin), "start", "--head", f"--port={port}", f"--temp-dir={temp}",
         "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
         *(f"--{p}={servers.free_port()}" for p in ports)],
        env={**env, "RAY_raylet_start_wait_time_s": "240"}, start_new_session=True,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}" if proc.returncode == 0 else None
    finally:
        for entry in Path("/proc").iterdir():  # this cluster's processes, by their folder
            with contextlib.suppress(OSError):
                if entry.name.isdigit() and temp.encode() in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def peers_ready() -> bool:
    if (PEERS / "bin" / "modelscan").exists():
        return True
    subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
    done = subprocess.run([str(PEERS / "bin" / "pip"), "install", "-q", "modelscan", "picklescan"],
                          check=False)  # fmt: skip
    return done.returncode == 0


def baseline(env: dict[str, str], endpoint: str, folder: Path) -> dict[str, Any]:
    sync, proc = run(["aws", "s3", "sync", "s3://bench/models", str(folder / "models"),
                      "--endpoint-url", endpoint, "--only-show-errors"], env)  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"aws s3 sync failed: {proc.stderr[-1000:]}")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    out: dict[str, Any] = {"sync": sync, "downloaded": size}
    pick, proc = run([str(PEERS / "bin" / "picklescan"), "-p", str(folder)], env)
    out["picklescan"] = pick
    out["picklescan_found"] = {
        _rel(line.split(":")[0], folder)
        for line in proc.stdout.splitlines() if "dangerous import" in line.lower()
    }  # fmt: skip
    report = folder.parent / "modelscan.json"
    ms, proc = run([str(PEERS / "bin" / "modelscan"), "-p", str(folder), "-r", "json", "-o",
                    str(report)], env)  # fmt: skip
    out["modelscan"] = ms
    issues = json.loads(report.read_text()).get("issues", []) if report.exists() else []
    out["modelscan_found"] = {_rel(i["source"].split(":")[0], folder) for i in issues}
    return out


def baseline_rescan(env: dict[str, str], endpoint: str, folder: Path) -> dict[str, Any]:
    """What a nightly job does today after 1% of objects changed: sync again (it downloads the
    changed objects) and scan the whole copy again with picklescan."""
    sync, proc = run(["aws", "s3", "sync", "s3://bench/models", str(folder / "models"),
                      "--endpoint-url", endpoint, "--only-show-errors"], env)  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"aws s3 sync failed: {proc.stderr[-1000:]}")
    pick, proc = run([str(PEERS / "bin" / "picklescan"), "-p", str(folder)], env)
    lines = proc.stdout.splitlines()
    found = {_rel(ln.split(":")[0], folder) for ln in lines if "dangerous import" in ln.lower()}
    return {"seconds": sync + pick, "found": found}


def _rel(path: str, folder: Path) -> str:
    """A reported path relative to the copy (the tools print absolute or relative paths)."""
    p = Path(path.strip())
    return str(p.relative_to(folder)) if p.is_absolute() and folder in p.parents else str(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=400,
                    help="models in the registry (the issue: hundreds of models)")  # fmt: skip
    ap.add_argument("--shard-mib", type=int, default=8, help="size of a shard or checkpoint")
    ap.add_argument("--latency-ms", type=float, default=20.0, help="added to every request")
    ap.add_argument("--mbps", type=float, default=400.0,
                    help="throughput of one connection in Mbit/s (0: loopback speed)")  # fmt: skip
    ap.add_argument("--jobs", type=int, default=0, help="mlstix -j (0: its default)")
    ap.add_argument("--rescans", type=int, default=5, help="rescans after the 1%% change")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    objects, planted = build(args.models, args.shard_mib * MiB)
    total = sum(len(v) for v in objects.values())
    print(f"registry: {args.models} models, {len(objects)} objects, {total / MiB:.0f} MiB, "
          f"{len(planted)} planted payloads; {args.latency_ms:g} ms per request, "
          f"{args.mbps:g} Mbit/s per connection; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    WORK.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, float, int, int, str]] = []
    with (
        s3_with_latency(args.latency_ms, args.mbps) as endpoint,
        tempfile.TemporaryDirectory(dir=WORK) as tmp,
    ):
        client = servers.s3_client(endpoint)
        client.create_bucket(Bucket="bench")
        servers.put_direct("bench", objects)
        env = servers.child_env(**servers.S3_ENV, AWS_ENDPOINT_URL=endpoint)
        state = Path(tmp) / "state.db"
        jobs = ["-j", str(args.jobs)] if args.jobs else []
        first = mlstix_scan(env, "--state", str(state), *jobs)
        rows.append(("mlstix (local)", first["seconds"], first["fetched"], len(objects),
                     _found(first["found"], planted)))  # fmt: skip
        # 1% of the objects change (new uploads of the same models)
        keys = sorted(objects)
        changed = random.Random(1).sample(keys, max(1, len(keys) // 100))
        for key in changed:
            servers.put_direct("bench", {key: objects[key] + b"\n" if key.endswith(".json")
                                         else _variant(objects[key])})  # fmt: skip
        again = rescan(env, state, len(objects) - len(changed), first["seconds"], args.rescans,
                       *jobs)  # fmt: skip
        rows.append(("mlstix rescan, 1% changed", again["seconds"], again["fetched"],
                     len(objects), _found(again["found"], planted)))  # fmt: skip
        if not args.no_ray:
            with ray_cluster(env) as address:
                if address is None:
                    print("ray: no local cluster (mlstix[ray] missing or it did not start)")
                else:
                    on_ray = mlstix_scan(env, "--executor", "ray", "--ray-address", address,
                                         *jobs)  # fmt: skip
                    rows.append(("mlstix (Ray, local cluster)", on_ray["seconds"],
                                 on_ray["fetched"], len(objects),
                                 _found(on_ray["found"], planted)))  # fmt: skip
        base: dict[str, Any] = {}
        if not args.no_baseline and shutil.which("aws") and peers_ready():
            base = baseline(env, endpoint, Path(tmp) / "copy")
            for tool in ("picklescan", "modelscan"):
                rows.append((f"aws s3 sync + {tool}", base["sync"] + base[tool],
                             base["downloaded"], len(objects),
                             _found(base[f"{tool}_found"], planted)))  # fmt: skip
            again_keys = random.Random(2).sample(keys, max(1, len(keys) // 100))  # another 1%
            other = {key: _variant(objects[key] + b"\n") for key in again_keys}  # still loadable
            servers.put_direct("bench", other)
            nightly = baseline_rescan(env, endpoint, Path(tmp) / "copy")
            rows.append(("sync again + picklescan, 1%", nightly["seconds"],
                         sum(map(len, other.values())), len(objects),
                         _found(nightly["found"], planted)))  # fmt: skip
            base["nightly"] = nightly["seconds"]
        _print(rows, total, first, again, base)


def rescan(
    env: dict[str, str], state: Path, unchanged: int, first: float, runs: int, *extra: str
) -> dict[str, Any]:
    """The median of ``runs`` rescans, each from the state the first scan left; every run is
    printed in the order it ran, with its speed-up over the first scan."""
    saved = state.with_suffix(".first")
    shutil.copyfile(state, saved)
    done = []
    for _ in range(runs):
        shutil.copyfile(saved, state)
        result = mlstix_scan(env, "--state", str(state), *extra)
        if f"; {unchanged} unchanged since the last scan" not in result["stderr"]:
            sys.exit(f"the rescan did not reuse {unchanged} results: {result['stderr'][-500:]}")
        done.append(result)
    print("rescans (in order): " + ", ".join(
        f"{r['seconds']:.2f} s ({r['cpu']:.2f} s CPU, {first / r['seconds']:.1f}x)" for r in done
    ) + f"; load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    return sorted(done, key=lambda r: r["seconds"])[len(done) // 2]


def _variant(data: bytes) -> bytes:
    """The same format, other bytes (a retrained model)."""
    return data[:-1] + bytes([data[-1] ^ 1]) if data else b"x"


def _found(found: set[str], planted: set[str]) -> str:
    return f"{len(found & planted)}/{len(planted)}"


def _print(rows: list[tuple[str, float, int, int, str]], total: int, first: dict[str, Any],
           again: dict[str, Any], base: dict[str, Any]) -> None:  # fmt: skip
    print(f"\n{'run':30} {'seconds':>8} {'files/s':>8} {'MiB fetched':>12} {'of total':>9} "
          f"{'payloads':>9}")  # fmt: skip
    for name, seconds, fetched, files, found in rows:
        print(f"{name:30} {seconds:8.2f} {files / seconds:8.1f} {fetched / MiB:12.1f} "
              f"{fetched / total:9.2%} {found:>9}")  # fmt: skip
    print(f"\nrescan after a 1% change (median): {first['seconds'] / again['seconds']:.1f}x faster "
          f"than the first scan (target >= 20x); CPU of mlstix and its workers: first scan "
          f"{first['cpu']:.2f} s, rescan {again['cpu']:.2f} s")  # fmt: skip
    if base:
        print(
            f"today's nightly rescan (sync again + picklescan): {base['nightly']:.2f} s, "
            f"{base['nightly'] / again['seconds']:.1f}x the mlstix rescan"
        )
        ratio = base["downloaded"] / max(1, first["fetched"])
        print(
            f"bytes: download-then-scan fetched {ratio:.1f}x the bytes mlstix fetched "
            "(target >= 10x on safetensors-heavy registries)"
        )
    print(f"mlstix: {first['stderr'].splitlines()[-1] if first['stderr'] else ''}")
    kinds = ", ".join(f"{k} {v / MiB:.1f}" for k, v in sorted(first["by_kind"].items()))
    print(f"mlstix MiB fetched by format (first scan): {kinds}")


if __name__ == "__main__":
    main()
