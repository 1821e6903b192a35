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

The servers are in ``_taxii_servers.py``, the clients in ``_taxii_clients.py`` beside this file.

Usage: .venv/bin/python benchmarks/taxii_load.py [--objects 100000] [--reads 200] [--posts 20]
       [--pages 200] [--seconds 5] [--workers 2] [--only-pages] [--repeat 3]
       [--mlstix-db postgresql+psycopg://USER@HOST/EMPTY_DB] [--baseline-src OTHER_CHECKOUT/src]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
from _taxii_clients import Stats, capture_pages, follow_rate, paged_reads, posts
from _taxii_servers import (
    FINDINGS,
    HEADERS,
    MEDALLION_COLLECTION,
    WORK,
    free_port,
    make_object,
    start_medallion,
    start_mlstix,
    start_nginx,
)

KINDS = ("objects", "manifest", "posts")


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
    builds = [("", None)] + ([(" @baseline", args.baseline_src)] if args.baseline_src else [])
    for label, workers, cache in setups:
        servers: list[tuple[str, int, Any]] = []
        try:
            for build, src in builds:  # all up at once: measured in turns, under the same load
                port = free_port()
                proc = start_mlstix(
                    port, args.mlstix_db, fresh=False, workers=workers, cache_bytes=cache, src=src
                )
                servers.append((build, port, proc))
            if not count:
                count, _ = capture_pages(servers[0][1], path, auth, args.pages, pages_root)
                for f in pages_root.iterdir():
                    f.chmod(0o644)
                size = sum(f.stat().st_size for f in pages_root.iterdir())
                print(f"{count} pages captured, {size / 1e6:.1f} MB")
            for clients in (1, 4) if workers == 1 else (4,):
                best = {build: (0.0, 0) for build, _, _ in servers}
                for _ in range(args.repeat):
                    for build, port, _ in servers:
                        rate, errors = follow_rate(
                            port, path, auth, args.pages, args.seconds, clients
                        )
                        best[build] = max(best[build], (rate, errors))
                for build, (rate, errors) in best.items():
                    rows[f"mlstix{build} {label} {workers} proc, {clients} client"] = rate
                    print(
                        f"mlstix{build} ({label}) {workers} process(es), {clients} client(s): "
                        f"{rate:8.0f} pages/s ({errors} errors)"
                    )
        finally:
            for _, _, proc in servers:
                proc.terminate()
                proc.wait(timeout=30)
    port = free_port()
    nginx = start_nginx(pages_root, port, "auto")
    if nginx is not None:
        try:
            for clients in (1, 4):
                rate, errors = max(
                    follow_rate(port, "/p/{i}.json", None, count, args.seconds, clients)
                    for _ in range(args.repeat)
                )
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
    for key, rate in list(rows.items()):
        base = rows.get(key.replace("mlstix ", "mlstix @baseline ", 1))
        if key.startswith("mlstix ") and base:
            print(f"{key.removeprefix('mlstix ')}: mlstix/baseline = {rate / base:.2f}x")
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
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure each page row this often; keep the best"
    )
    parser.add_argument(
        "--baseline-src",
        metavar="DIR",
        help="also measure the pages with mlstix from this source folder (e.g. the src of a "
        "checkout of an earlier commit), in turns with the current one",
    )
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
