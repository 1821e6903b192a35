"""``mlstix serve`` as deployed: secrets stay out of the process list (``--password-stdin``,
``MLSTIX_TAXII_PASSWORD``, ``MLSTIX_TAXII_DB``), no prompt without a terminal, slow or endless
headers and too many connections are cut off, and ``--workers`` runs several processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from taxii_support import TAXII, LiveServer

from mlstix.cli.main import cli


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'taxii.sqlite3'}"


@pytest.mark.parametrize("command", [["serve", "adduser", "ci"], ["serve", "hash-password"]])
def test_no_password_and_no_terminal_is_exit_2(tmp_path: Path, command: list[str]) -> None:
    env = {"MLSTIX_TAXII_DB": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    result = CliRunner().invoke(cli, command, env=env)
    assert result.exit_code == 2, result.output
    assert "pass --password-stdin or set MLSTIX_TAXII_PASSWORD" in result.output
    assert "Traceback" not in result.output and "Aborted" not in result.output


def test_password_from_stdin_and_database_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "from-env.sqlite3"
    env = {"MLSTIX_TAXII_DB": f"sqlite:///{db}"}
    result = CliRunner().invoke(
        cli,
        ["serve", "adduser", "ci", "--password-stdin", "--write", "findings"],
        input="s3cret pass\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert db.exists() and (db.stat().st_mode & 0o777) == 0o600
    from mlstix.taxii.auth import Authenticator
    from mlstix.taxii.store import Store

    store = Store(f"sqlite:///{db}")
    import base64

    header = "Basic " + base64.b64encode(b"ci:s3cret pass").decode()
    assert Authenticator(store.engine, []).authenticate(header) is not None
    store.close()
    from_env = CliRunner().invoke(
        cli,
        ["serve", "adduser", "bot"],
        env={**env, "MLSTIX_TAXII_PASSWORD": "pw2"},
    )
    assert from_env.exit_code == 0, from_env.output
    both = CliRunner().invoke(
        cli,
        ["serve", "adduser", "x", "--password-stdin"],
        input="a\n",
        env={**env, "MLSTIX_TAXII_PASSWORD": "b"},
    )
    assert both.exit_code == 2 and "not both" in both.output


def _connect(server: LiveServer) -> socket.socket:
    host, port = server.base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_all(sock: socket.socket, limit: float = 10) -> tuple[bytes, float]:
    start = time.monotonic()
    data = b""
    sock.settimeout(limit)
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data, time.monotonic() - start


def test_slow_headers_are_cut_off(make_server: Any) -> None:
    server = make_server(header_timeout=1)
    trickle = _connect(server)
    start = time.monotonic()
    trickle.sendall(b"GET /taxii2/ HTTP/1.1\r\n")
    closed_at = None
    for n in range(30):  # one header line every 0.2 s: never completes
        try:
            trickle.sendall(f"X-Slow-{n}: 1\r\n".encode())
        except OSError:
            closed_at = time.monotonic() - start
            break
        trickle.settimeout(0.2)
        try:
            data = trickle.recv(65536)
        except TimeoutError:
            continue
        assert data.startswith(b"HTTP/1.1 408") or data == b""
        closed_at = time.monotonic() - start
        break
    assert closed_at is not None and closed_at < 3, closed_at
    silent = _connect(server)  # connects and sends nothing
    data, waited = _read_all(silent)
    assert data.startswith(b"HTTP/1.1 408") and waited < 3
    # A complete request on a fresh connection is served as usual.
    assert httpx.get(f"{server.base}/taxii2/", headers={"Accept": TAXII}).status_code == 200


def test_endless_headers_are_431(make_server: Any) -> None:
    server = make_server()
    sock = _connect(server)
    sock.sendall(b"GET /taxii2/ HTTP/1.1\r\n")
    try:
        for n in range(200):
            sock.sendall(f"X-Big-{n}: {'a' * 1000}\r\n".encode())
    except OSError:
        pass
    data, _ = _read_all(sock)
    assert data.startswith(b"HTTP/1.1 431"), data[:100]


def test_connections_beyond_the_cap_are_refused(make_server: Any) -> None:
    server = make_server(max_connections=4)
    held = [_connect(server) for _ in range(4)]
    for sock in held:
        sock.sendall(b"GET /taxii2/ HTTP/1.1\r\n")  # half-sent requests
    time.sleep(0.2)
    extra = _connect(server)
    data, waited = _read_all(extra, limit=5)
    assert data.startswith(b"HTTP/1.1 503") and waited < 2
    for sock in held:
        sock.close()
    time.sleep(0.2)
    assert httpx.get(f"{server.base}/taxii2/", headers={"Accept": TAXII}).status_code == 200


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to count worker processes")
def test_workers_serve_from_several_processes(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from mlstix.taxii.auth import hash_secret

    config = tmp_path / "taxii.toml"
    config.write_text(
        f'load_kb = false\n[users.ci]\npassword_hash = "{hash_secret("pw")}"\nread = ["findings"]\n'
    )
    env = {**os.environ, "MLSTIX_TAXII_DB": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    code = "from mlstix.cli.main import main; main()"
    cmd = [sys.executable, "-c", code, "serve", "--workers", "2", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--config", str(config), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/taxii2/", headers={"Accept": TAXII})
                if resp.status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        workers = [c for c in _children(proc.pid) if b"spawn_main" in _cmdline(c)]
        assert len(workers) == 2, workers
        from taxii_support import FINDINGS

        url = f"http://127.0.0.1:{port}/mlstix/collections/{FINDINGS}/objects/"
        for _ in range(6):  # new connections: both workers answer, with the config's user
            resp = httpx.get(url, auth=("ci", "pw"), headers={"Accept": TAXII})
            assert resp.status_code == 200 and resp.json()["objects"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode()[-2000:]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_publish_takes_its_password_from_stdin_never_a_prompt_without_terminal(
    live: Any, tmp_path: Path
) -> None:
    import json

    from taxii_support import FINDINGS, indicator

    server, _users = live
    bundle = tmp_path / "bundle.json"
    bundle.write_text(
        json.dumps({"type": "bundle", "id": f"bundle--{'0' * 8}-0000-4000-8000-{'0' * 12}",
                    "objects": [indicator(1)]})
    )  # fmt: skip
    args = ["publish", str(bundle), "--to", server.root, "--collection", FINDINGS]
    ok = CliRunner().invoke(
        cli, [*args, "--user", "writer", "--password-stdin"], input="w-secret\n"
    )
    assert ok.exit_code == 0 and "published 1 of 1" in ok.output, ok.output
    no_tty = CliRunner().invoke(cli, [*args, "--user", "writer"])
    assert no_tty.exit_code == 2 and "--password-stdin" in no_tty.output
    both = CliRunner().invoke(
        cli, ["publish", "-", *args[2:], "--user", "writer", "--password-stdin"], input="{}"
    )
    assert both.exit_code == 2 and "stdin carries the bundle" in both.output


def test_a_slow_body_is_408(make_server: Any) -> None:
    from taxii_support import FINDINGS, add_users

    server = make_server(body_timeout=1)
    users = add_users(server.app)
    sock = _connect(server)
    auth = users.basic(users.writer)["Authorization"]
    sock.sendall(
        f"POST /mlstix/collections/{FINDINGS}/objects/ HTTP/1.1\r\nHost: x\r\n"
        f"Accept: {TAXII}\r\nContent-Type: {TAXII}\r\nAuthorization: {auth}\r\n"
        f'Content-Length: 100\r\n\r\n{{"objects"'.encode()
    )
    data, waited = _read_all(sock, limit=10)
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b"did not arrive within 1 s" in data and waited < 5
