"""Running the TAXII server with uvicorn: its HTTP protocol with guards, and ``--workers``.

uvicorn has no timeout for reading a request's headers and no cap on open connections, so a
client that opens connections and sends requests a byte at a time ("slowloris") holds them open
for as long as it likes. :class:`GuardedProtocol` (uvicorn's httptools protocol, llhttp in C)
adds both: a request whose headers are not complete ``header_timeout`` seconds after its first
byte (or after the connection opened) gets 408 and is closed; headers larger than 64 KiB get 431;
a connection beyond ``max_connections`` gets 503 and is closed at once. The limits are per
process; put the server behind a reverse proxy on a network (docs/taxii.md).

With ``workers`` > 1, uvicorn starts that many processes sharing the listening socket. The parent
prepares the database once (collections, users, the knowledge base); each worker then opens it
without writing (:func:`worker_app`, settings passed in ``MLSTIX_TAXII_WORKER_CONFIG``).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlstix.taxii.config import ConfigUser, ServerConfig

__all__ = ["GuardedProtocol", "configure", "run", "uvicorn_config", "worker_app"]

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
    import uvicorn

    configure(config)
    return uvicorn.Config(app, **_uvicorn_settings(config), **extra)


def worker_app() -> Any:
    """The app of one worker process (a uvicorn factory). The settings come through the
    environment, which, unlike arguments, other users cannot read."""
    raw = json.loads(os.environ[_ENV])
    raw["users"] = tuple(
        ConfigUser(u["name"], u["password_hash"], tuple(u["read"]), tuple(u["write"]))
        for u in raw["users"]
    )
    config = ServerConfig(**raw)
    configure(config)
    from mlstix.taxii.app import create_app

    return create_app(config)


def run(config: ServerConfig, *, access_log: bool, ready: Callable[[], None]) -> None:
    """Serve until interrupted: in this process, or in ``config.workers`` processes.
    ``ready`` runs once the database is open and prepared."""
    import uvicorn

    from mlstix.taxii.app import create_app

    app = create_app(config)  # prepares the database once; workers only read it at start
    ready()
    if config.workers <= 1:
        settings = uvicorn_config(app, config, log_level="info", access_log=access_log)
        uvicorn.Server(settings).run()
        return
    app.state.server.store.close()
    os.environ[_ENV] = json.dumps(asdict(config.with_overrides(load_kb=False)))
    uvicorn.run(
        "mlstix.taxii._serve:worker_app",
        factory=True,
        workers=config.workers,
        log_level="info",
        access_log=access_log,
        **_uvicorn_settings(config),
    )
