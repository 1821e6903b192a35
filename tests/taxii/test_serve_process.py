"""``mlstix serve`` as a process: the address it prints is the one it listens on (``--port 0``
too), Ctrl-C exits 130 and SIGTERM exits 0 with one process or several, without a traceback from
any of them, and a port it cannot take is one line and exit 2."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from taxii_support import TAXII

_CODE = "from mlstix.cli.main import main; main()"


class Serve:
    """``mlstix serve`` in its own process group (as a shell job is), stderr collected."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        config = tmp_path / "taxii.toml"
        config.write_text("load_kb = false\n")
        env = {**os.environ, "MLSTIX_TAXII_DB": f"sqlite:///{tmp_path / 'taxii.sqlite3'}"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CODE, "serve", "--config", str(config), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._announced = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            if "discovery at" in line:
                self._announced.set()
        self._announced.set()

    @property
    def err(self) -> str:
        return "".join(self.lines)

    def announced_url(self, timeout: float = 60) -> str:
        """The discovery URL the server printed."""
        assert self._announced.wait(timeout), f"no discovery line: {self.err[-2000:]}"
        line = next((ln for ln in self.lines if "discovery at" in ln), None)
        assert line is not None, f"the server stopped first: {self.err[-2000:]}"
        return line.split("discovery at ", 1)[1].split()[0]

    def wait_serving(self, url: str, timeout: float = 60) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return httpx.get(url, headers={"Accept": TAXII}, timeout=5)
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)

    def stop(self, sig: int, *, group: bool) -> tuple[int, float]:
        """Send ``sig`` to the server (``group``: to its whole process group, as a terminal's
        Ctrl-C does); its exit code and how long it took to exit."""
        start = time.monotonic()
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        return code, time.monotonic() - start

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def _group_alive(pgid: int, wait: float = 5) -> bool:
    """Whether a process of the group is left ``wait`` seconds on (multiprocessing's resource
    tracker, a helper process, leaves once it sees the parent gone)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("workers", "sig", "group", "code"),
    [
        ("1", signal.SIGINT, True, 130),
        ("2", signal.SIGINT, True, 130),
        ("2", signal.SIGINT, False, 130),
        ("1", signal.SIGTERM, False, 0),
        ("2", signal.SIGTERM, False, 0),
    ],
    ids=["1-ctrl-c", "2-ctrl-c", "2-sigint-parent", "1-sigterm", "2-sigterm"],
)
def test_port_0_is_announced_as_bound_and_signals_stop_cleanly(
    tmp_path: Path, workers: str, sig: int, group: bool, code: int
) -> None:
    server = Serve(tmp_path, "--port", "0", "--workers", workers, "--no-access-log")
    try:
        url = server.announced_url()
        port = int(url.split(":")[2].split("/")[0])
        assert url == f"http://127.0.0.1:{port}/taxii2/" and port != 0, url
        resp = server.wait_serving(url)
        assert resp.status_code == 200
        assert resp.json()["default"] == f"http://127.0.0.1:{port}/mlstix/"
        got, seconds = server.stop(sig, group=group)
    finally:
        server.kill()
    assert got == code, server.err[-3000:]
    assert seconds < 10, seconds
    assert "Traceback" not in server.err and "Process SpawnProcess" not in server.err, server.err
    assert not _group_alive(server.proc.pid), "a worker outlived the server"
    if code == 130:
        assert server.err.rstrip().endswith("interrupted"), server.err[-500:]


def test_ctrl_c_while_workers_start_is_130_without_a_traceback(tmp_path: Path) -> None:
    server = Serve(tmp_path, "--port", "0", "--workers", "2")
    try:
        server.announced_url()  # the parent is prepared; the workers are being spawned now
        got, _ = server.stop(signal.SIGINT, group=True)
    finally:
        server.kill()
    assert got == 130, server.err[-3000:]
    assert "Traceback" not in server.err and "KeyboardInterrupt" not in server.err, server.err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path, workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        server = Serve(tmp_path, "--port", port, "--workers", workers)
        try:
            code = server.proc.wait(timeout=60)
            server._reader.join(timeout=10)
        finally:
            server.kill()
    assert code == 2, server.err
    assert server.lines[0] == f"error: cannot listen on 127.0.0.1:{port}: address already in use\n"
    assert "discovery at" not in server.err and "Traceback" not in server.err, server.err


def test_a_worker_that_cannot_open_the_database_stops_with_its_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """uvicorn restarts a worker that exits with anything but its start-failure code, for ever."""
    import json

    from uvicorn.config import STARTUP_FAILURE

    from mlstix.taxii._serve import worker_app

    folder = tmp_path / "gone"
    settings = {"db": f"sqlite:///{folder / 'taxii.sqlite3'}", "users": [], "load_kb": False}
    monkeypatch.setenv("MLSTIX_TAXII_WORKER_CONFIG", json.dumps(settings))
    folder.mkdir(mode=0o500)  # the database cannot be created in it
    if os.geteuid() == 0:
        folder.rmdir()
        folder.write_text("a file where a folder should be")
    with pytest.raises(SystemExit) as exc:
        worker_app()
    assert exc.value.code == STARTUP_FAILURE
    err = capsys.readouterr().err
    assert err.startswith(f"error: worker {os.getpid()}: ") and err.count("\n") == 1, err
