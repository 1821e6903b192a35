"""Helpers of the TAXII tests: a live server on loopback, users, small STIX objects."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import uvicorn

from mlstix.taxii.auth import hash_secret, new_api_key, save_user
from mlstix.taxii.config import FINDINGS_COLLECTION_ID, KB_COLLECTION_ID

TAXII = "application/taxii+json;version=2.1"
KB = KB_COLLECTION_ID
FINDINGS = FINDINGS_COLLECTION_ID
PG_ENV = "MLSTIX_TEST_POSTGRES_URL"

IDENTITY = {
    "type": "identity",
    "spec_version": "2.1",
    "id": "identity--0b2c1d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
    "created": "2026-01-01T00:00:00.000Z",
    "modified": "2026-01-01T00:00:00.000Z",
    "name": "small test KB",
    "identity_class": "organization",
}


def indicator(n: int, modified: str = "2026-02-01T00:00:00.000Z", **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=n, version=4)}",
        "created": "2026-02-01T00:00:00.000Z",
        "modified": modified,
        "name": f"indicator {n}",
        "pattern": f"[file:name = 'model-{n}.pt']",
        "pattern_type": "stix",
        "valid_from": "2026-02-01T00:00:00Z",
        **extra,
    }


def vulnerability(n: int) -> dict[str, Any]:
    return {
        "type": "vulnerability",
        "spec_version": "2.1",
        "id": f"vulnerability--{uuid.UUID(int=10_000 + n, version=4)}",
        "created": "2026-03-01T00:00:00.000Z",
        "modified": "2026-03-01T00:00:00.000Z",
        "name": f"vulnerability {n}",
    }


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 with a free port, in a thread."""

    def __init__(self, app: Any) -> None:
        from mlstix.taxii._serve import uvicorn_config

        self.app = app
        settings = app.state.server.config.with_overrides(host="127.0.0.1", port=0)
        self.server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.root = f"{self.base}/mlstix/"
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    def collection_url(self, cid: str) -> str:
        return f"{self.root}collections/{cid}/"


@dataclass(frozen=True)
class Users:
    writer: tuple[str, str]  # may read and write findings
    reader: tuple[str, str]  # may read findings
    api_key: str  # the writer's API key

    @staticmethod
    def basic(user: tuple[str, str]) -> dict[str, str]:
        token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


def add_users(app: Any) -> Users:
    engine = app.state.server.store.engine
    key, key_id, key_hash = new_api_key()
    save_user(
        engine,
        "writer",
        password_hash=hash_secret("w-secret"),
        api_key=(key_id, key_hash),
        read=[],
        write=[FINDINGS],
    )
    save_user(
        engine,
        "reader",
        password_hash=hash_secret("r-secret"),
        api_key=None,
        read=[FINDINGS],
        write=[],
    )
    return Users(("writer", "w-secret"), ("reader", "r-secret"), key)
