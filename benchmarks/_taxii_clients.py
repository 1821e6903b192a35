"""Clients of benchmarks/taxii_load.py: httpx loops (paged reads, posts) with their statistics,
and a wrk-like raw-socket client that follows ``next`` page after page, from one or several
processes, the same for every server."""

from __future__ import annotations

import base64
import json
import multiprocessing
import re
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from _taxii_servers import HEADERS, TAXII, make_object


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
