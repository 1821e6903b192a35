"""Running the TAXII server with uvicorn: its HTTP protocol with guards, ``--workers``, the
listening socket and how the server stops.

uvicorn has no timeout for reading a request's headers and no cap on open connections, so a
client that opens connections and sends requests a byte at a time ("slowloris") holds them open
for as long as it likes. :class:`GuardedProtocol` (uvicorn's httptools protocol, llhttp in C)
adds both: a request whose headers are not complete ``header_timeout`` seconds after its first
byte (or after the connection opened) gets 408 and is closed; headers larger than 64 KiB get 431;
a connection beyond ``max_connections`` gets 503 and is closed at once. The limits are per
process; put the server behind a reverse proxy on a network (docs/taxii.md).

The socket is bound and listening before the app is prepared (:func:`listen`): a port in use is
one line, and the address printed is the one the system gave (``--port 0``). With ``workers`` > 1
that socket is shared by that many processes started by uvicorn's supervisor. The parent prepares
the database once (collections, users, the knowledge base); each worker then opens it without
writing (:func:`worker_app`, settings passed in ``MLSTIX_TAXII_WORKER_CONFIG``).

Stopping: SIGINT (Ctrl-C) and SIGTERM both shut down gracefully (requests in flight get up to 5 s);
:func:`run` then raises ``KeyboardInterrupt`` for SIGINT (the command line exits 130, as every
command does on Ctrl-C) and returns for SIGTERM (exit 0, a requested stop). Workers start with
SIGINT ignored: a Ctrl-C at the terminal reaches the whole process group, and a worker still
starting would print a ``KeyboardInterrupt`` traceback; the parent stops them with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Generator
from dataclasses import asdict
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from mlstix.errors import MlstixError
from mlstix.taxii.config import ConfigUser, ServerConfig

__all__ = [
    "GuardedProtocol",
    "ServeError",
    "bound_url",
    "configure",
    "listen",
    "run",
    "uvicorn_config",
    "worker_app",
]

_ENV = "MLSTIX_TAXII_WORKER_CONFIG"
MAX_HEADER_BYTES = 64 * 1024


def _refuse(transport: asyncio.Transport, status: bytes) -> None:
    if not transport.is_closing():
        transport.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
    transport.close()


class GuardedProtocol(HttpToolsProtocol):
    header_timeout = 10.0
    max_connections = 1000

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        if len(self.connections) > self.max_connections:
            _refuse(transport, b"503 Service Unavailable")
            return
        self._arm()

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.cycle is None or self.cycle.response_complete:
            _refuse(self.transport, b"408 Request Timeout")

    def data_received(self, data: bytes) -> None:
        if self._header_timer is not None:
            self._header_bytes += len(data)
        super().data_received(data)
        # Still inside the headers after this chunk (the body of a request whose headers
        # ended in it does not count: on_headers_complete reset the count).
        if self._header_timer is not None and self._header_bytes > MAX_HEADER_BYTES:
            self._disarm()
            _refuse(self.transport, b"431 Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._header_bytes = 0
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def configure(config: ServerConfig) -> None:
    """Set the guards of this process from ``config``."""
    GuardedProtocol.header_timeout = float(config.header_timeout)
    GuardedProtocol.max_connections = config.max_connections


def _uvicorn_settings(config: ServerConfig) -> dict[str, Any]:
    return {
        "host": config.host,
        "port": config.port,
        "http": GuardedProtocol,
        "ssl_certfile": config.certfile,
        "ssl_keyfile": config.keyfile,
        "forwarded_allow_ips": config.forwarded_allow_ips,
        "timeout_graceful_shutdown": 5,
    }


def uvicorn_config(app: Any, config: ServerConfig, **extra: Any) -> Any:
    configure(config)
    return uvicorn.Config(app, **_uvicorn_settings(config), **extra)


def worker_app() -> Any:
    """The app of one worker process (a uvicorn factory). The settings come through the
    environment, which, unlike arguments, other users cannot read. A worker that cannot open
    the database says so in one line and exits with uvicorn's start-failure code, which stops
    the parent (otherwise it would restart the worker for ever)."""
    raw = json.loads(os.environ[_ENV])
    raw["users"] = tuple(
        ConfigUser(u["name"], u["password_hash"], tuple(u["read"]), tuple(u["write"]))
        for u in raw["users"]
    )
    config = ServerConfig(**raw)
    configure(config)
    from uvicorn.config import STARTUP_FAILURE

    from mlstix.taxii.app import create_app

    try:
        return create_app(config)
    except MlstixError as exc:
        sys.stderr.write(f"error: worker {os.getpid()}: {exc}\n")
        sys.exit(STARTUP_FAILURE)


class ServeError(MlstixError):
    """The server cannot listen or start."""


_LISTEN_HINTS = {
    errno.EADDRINUSE: "choose another --port (0 picks a free one) or stop what holds it",
    errno.EADDRNOTAVAIL: "--host must be an address of this machine (or 0.0.0.0 for all)",
    errno.EACCES: "ports below 1024 need privileges: use a higher --port behind a proxy",
}


def listen(config: ServerConfig) -> socket.socket:
    """The listening socket for ``config`` (port 0: one the system picks)."""
    host = config.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, config.port))
        sock.listen(2048)  # clients that come while the app is prepared wait, not fail
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        hint = _LISTEN_HINTS.get(exc.errno or 0, "")
        raise ServeError(f"cannot listen on {host}:{config.port}: {reason}", hint=hint) from None
    sock.set_inheritable(True)
    return sock


def bound_url(config: ServerConfig, sock: socket.socket) -> str:
    """The base URL of the listening socket: the real port when 0 was asked for."""
    port = sock.getsockname()[1]
    scheme = "https" if config.certfile else "http"
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"{scheme}://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server, remembering the first signal it got; unlike uvicorn, it does not raise
    that signal again after the shutdown (SIGTERM would then kill the process)."""

    stopped_by: int | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.stopped_by is None:
            self.stopped_by = sig
        super().handle_exit(sig, frame)


class _Supervisor(Multiprocess):
    """uvicorn's supervisor of worker processes, remembering what stopped it."""

    stopped_by: int | None = None

    def init_processes(self) -> None:
        # The workers start with SIGINT ignored (an ignored signal stays so through exec). It is
        # blocked here meanwhile, so a Ctrl-C in that moment waits for the parent's handler.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            super().init_processes()
        finally:
            signal.signal(signal.SIGINT, handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def handle_int(self) -> None:
        self.stopped_by = self.stopped_by or signal.SIGINT
        super().handle_int()

    def handle_term(self) -> None:
        self.stopped_by = self.stopped_by or signal.SIGTERM
        super().handle_term()


def _stopped(by: int | None, started: bool) -> None:
    if by == signal.SIGINT:
        raise KeyboardInterrupt
    if by is None and not started:
        raise ServeError("the server did not start (the reason is in the log above)")


class _Terminated(BaseException):
    """SIGTERM before the server runs (while the database is prepared): stop as cleanly."""


def _terminated(_sig: int, _frame: FrameType | None) -> None:
    raise _Terminated


def run(config: ServerConfig, *, access_log: bool, ready: Callable[[str], None]) -> None:
    """Serve until SIGINT (raises ``KeyboardInterrupt``) or SIGTERM (returns), in this
    process or in ``config.workers`` processes. ``ready`` gets the base URL listened on, once
    the database is open and prepared."""
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        _run(config, access_log=access_log, ready=ready)
    except _Terminated:
        pass  # transactions under way were rolled back on the way out
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(config: ServerConfig, *, access_log: bool, ready: Callable[[str], None]) -> None:
    from mlstix.taxii.app import create_app

    sock = listen(config)
    try:
        app = create_app(config)  # prepares the database once; workers only read it at start
        ready(bound_url(config, sock))
        if config.workers <= 1:
            settings = uvicorn_config(app, config, log_level="info", access_log=access_log)
            server = _Server(settings)
            server.run(sockets=[sock])
            _stopped(server.stopped_by, server.started)
            return
        app.state.server.store.close()
        os.environ[_ENV] = json.dumps(asdict(config.with_overrides(load_kb=False)))
        settings = uvicorn.Config(
            "mlstix.taxii._serve:worker_app",
            factory=True,
            workers=config.workers,
            log_level="info",
            access_log=access_log,
            **_uvicorn_settings(config),
        )
        supervisor = _Supervisor(settings, sockets=[sock])
        supervisor.run()
        # Without a signal, the supervisor stops only when a worker could not start.
        _stopped(supervisor.stopped_by, started=False)
    finally:
        sock.close()
