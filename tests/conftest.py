"""Shared fixtures: the repository root and the loaded knowledge base; the servers the suite needs.

PostgreSQL: when the TAXII tests are selected and ``MLSTIX_TEST_POSTGRES_URL`` is not set, the
session starts its own throwaway cluster (``initdb`` in a temporary folder, ``fsync`` off,
listening on a free loopback port only) before any test runs, exports its URL in
``MLSTIX_TEST_POSTGRES_URL`` (pytest-xdist workers inherit it), and removes it at the end. As
root the cluster runs as the ``postgres`` user. Without PostgreSQL's binaries (``make test-deps``
installs them) the PostgreSQL tests skip, and the header of the run says why.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.load import load_kb

REPO = Path(__file__).resolve().parents[1]
PG_ENV = "MLSTIX_TEST_POSTGRES_URL"
_PG_TESTS = REPO / "tests" / "taxii"
_PG_TEST_DIRS = (_PG_TESTS, REPO / "tests" / "scan_remote")  # the remote scan's --state too


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_kb()


# --- PostgreSQL for the session ------------------------------------------------------------------

_notes: list[str] = []
_stops: list[Callable[[], None]] = []


def _pg_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _wants_postgres(config: pytest.Config) -> bool:
    if os.environ.get(PG_ENV) or hasattr(config, "workerinput"):
        return False  # given by the caller, or this is an xdist worker (the controller starts it)
    args = [a.split("::")[0] for a in config.args if not a.startswith("-")] or ["tests"]
    for arg in args:
        path = (Path(config.invocation_params.dir) / arg).resolve()
        for tests in _PG_TEST_DIRS:
            if path == tests or tests in path.parents or path in tests.parents:
                return True
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_postgres() -> str:
    """Start a cluster; return its URL. Raise ``RuntimeError`` naming why it could not start."""
    bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError(
            "no PostgreSQL binaries (run `make test-deps`, or apt-get install postgresql)"
        )
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="mlstix-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            raise RuntimeError("running as root without runuser to drop to the postgres user")
        try:
            shutil.chown(folder, "postgres")
        except (LookupError, OSError) as exc:
            raise RuntimeError(f"running as root and no postgres user to run as ({exc})") from None
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    stop_cmd = [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]

    def stop() -> None:
        subprocess.run(stop_cmd, capture_output=True, check=False, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)

    try:
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
             "-E", "UTF8", "--no-sync"],
            capture_output=True, check=True, timeout=120,
        )  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
             "-l", str(folder / "log"), "-w", "-t", "60", "start"],
            capture_output=True, check=True, timeout=120,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log = folder / "log"
        detail = log.read_text(errors="replace")[-400:] if log.is_file() else ""
        stderr = getattr(exc, "stderr", b"") or b""
        stop()
        raise RuntimeError(f"{exc}: {stderr.decode(errors='replace')[-400:]}{detail}") from None
    _stops.append(stop)
    atexit.register(_stop_all)  # also when the session ends without pytest_unconfigure
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def pytest_configure(config: pytest.Config) -> None:
    if not _wants_postgres(config):
        return
    try:
        os.environ[PG_ENV] = _start_postgres()
        _notes.append(f"PostgreSQL: a session cluster at {os.environ[PG_ENV]}")
    except RuntimeError as exc:
        _notes.append(f"PostgreSQL tests will skip: could not start a server: {exc}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return list(_notes)


def _stop_all() -> None:
    while _stops:
        with contextlib.suppress(Exception):
            _stops.pop()()


def pytest_unconfigure(config: pytest.Config) -> None:
    _stop_all()
