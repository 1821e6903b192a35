"""PostgreSQL going away while the server runs, and coming back: reads are 503 with a TAXII error
resource and ``Retry-After`` (never a 500, a hang or a traceback), the lean read path stands aside
meanwhile, and the server serves again once the database is back, without a restart. The
database is reached through a TCP forwarder the test cuts and restores."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from taxii_support import FINDINGS, IDENTITY, TAXII, LiveServer, add_users, indicator

from mlstix.taxii.app import create_app
from mlstix.taxii.config import ServerConfig


class Forwarder:
    """Loopback TCP forwarder to ``target``; :meth:`cut` closes every connection and refuses
    new ones, :meth:`restore` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        assert self._listener is not None
        self._listener.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxied(db_url: str) -> Iterator[tuple[str, Forwarder]]:
    from sqlalchemy import make_url

    url = make_url(db_url)
    forwarder = Forwarder((url.host or "127.0.0.1", url.port or 5432))
    proxied_url = url.set(host="127.0.0.1", port=forwarder.port)
    yield proxied_url.render_as_string(hide_password=False), forwarder
    forwarder.cut()


def _get(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(url, params={"limit": 5}, headers=headers, timeout=30)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # a database server to lose
def test_a_lost_database_is_503_and_the_server_recovers(proxied: tuple[str, Any]) -> None:
    db_url, forwarder = proxied
    app = create_app(ServerConfig(db=db_url, load_kb=False), kb_loader=lambda: [dict(IDENTITY)])
    users = add_users(app)
    headers = {"Accept": TAXII, **users.basic(users.reader)}
    try:
        with LiveServer(app) as server:
            url = f"{server.collection_url(FINDINGS)}objects/"
            posted = httpx.post(
                url,
                headers={"Content-Type": TAXII, **headers, **users.basic(users.writer)},
                content=b'{"objects": [%s]}' % httpx.Response(200, json=indicator(1)).content,
            )
            assert posted.status_code == 202, posted.text
            for _ in range(2):  # the app, then the lean path
                assert _get(url, headers).status_code == 200

            forwarder.cut()
            for _ in range(3):
                start = time.monotonic()
                resp = _get(url, headers)
                assert resp.status_code == 503, resp.text
                assert time.monotonic() - start < 10
                assert resp.headers["content-type"] == TAXII
                assert resp.headers["retry-after"] == "5"
                assert resp.json()["description"] == "the database cannot be reached; retry"

            forwarder.restore()
            deadline = time.monotonic() + 20
            while (resp := _get(url, headers)).status_code != 200:
                assert resp.status_code == 503 and time.monotonic() < deadline, resp.text
                time.sleep(0.2)
            assert [o["id"] for o in resp.json()["objects"]] == [indicator(1)["id"]]
    finally:
        app.state.server.store.close()
