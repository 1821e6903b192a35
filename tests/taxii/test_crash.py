"""A server killed with SIGKILL in the middle of a stream of POSTs comes back with every object
it acknowledged and with no part of a POST it did not finish (each POST is one transaction,
committed before the 202 is sent)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from taxii_support import FINDINGS, TAXII, indicator

from mlstix.cli.main import cli

BATCH = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(db_url: str, config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    code = "from mlstix.cli.main import main; main()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            "--config",
            str(config),
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/taxii2/", headers={"Accept": TAXII}, timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


def _all_objects(base: str, auth: tuple[str, str]) -> list[dict[str, Any]]:
    url = f"{base}/mlstix/collections/{FINDINGS}/objects/"
    params: dict[str, Any] = {"limit": 500, "match[version]": "all"}
    out: list[dict[str, Any]] = []
    while True:
        page = httpx.get(url, params=params, headers={"Accept": TAXII}, auth=auth).json()
        out.extend(page["objects"])
        if not page["more"]:
            return out
        params["next"] = page["next"]


def test_sigkill_loses_no_acknowledged_object(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "taxii.toml"
    config.write_text("load_kb = false\n")
    added = CliRunner().invoke(
        cli, ["serve", "adduser", "w", "--password", "pw", "--write", "findings", "--db", db_url]
    )
    assert added.exit_code == 0, added.output
    port = _free_port()
    log = tmp_path / "server.log"
    proc = _start(db_url, config, port, log)
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/mlstix/collections/{FINDINGS}/objects/"
    sent: dict[int, list[dict[str, Any]]] = {}
    acked: set[int] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def poster(worker: int) -> None:
        with httpx.Client(auth=("w", "pw"), timeout=10) as client:
            for i in range(10_000):
                if stop.is_set():
                    return
                batch_no = worker * 100_000 + i
                batch = [indicator(batch_no * BATCH + k) for k in range(BATCH)]
                with lock:
                    sent[batch_no] = batch
                try:
                    resp = client.post(
                        url,
                        content=json.dumps({"objects": batch}),
                        headers={"Accept": TAXII, "Content-Type": TAXII},
                    )
                except httpx.TransportError:
                    return
                if resp.status_code == 202 and resp.json()["success_count"] == BATCH:
                    with lock:
                        acked.add(batch_no)

    threads = [threading.Thread(target=poster, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # mid-stream: the posters are still sending
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 30, log.read_text()[-2000:]
    assert len(sent) > len(acked)  # the kill caught posts in flight

    proc = _start(db_url, config, port, log)
    try:
        stored = _all_objects(base, ("w", "pw"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    by_id = {o["id"]: o for o in stored}
    assert len(by_id) == len(stored)  # one version each, as posted
    for batch_no in acked:
        for obj in sent[batch_no]:
            assert by_id.get(obj["id"]) == obj, f"acknowledged object lost: {obj['id']}"
    present_batches = 0
    for batch in sent.values():
        present = [o["id"] in by_id for o in batch]
        assert all(present) or not any(present), "a POST was stored in part"
        if all(present):
            present_batches += 1
            assert all(by_id[o["id"]] == o for o in batch)
    assert len(stored) == present_batches * BATCH  # nothing else, nothing partial
