"""Password checks run off the event loop; failed logins are limited per client address and per
user (429 with Retry-After); unknown and known API-key ids cost the same check."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from taxii_support import FINDINGS, TAXII, add_users, indicator

import mlstix.taxii.auth as auth_module
from mlstix.taxii.auth import Authenticator, LoginLimiter, LoginThrottled, hash_secret, save_user
from mlstix.taxii.store import Store

POST = {"Accept": TAXII, "Content-Type": TAXII}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'taxii.sqlite3'}"


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_password_checks_never_run_on_the_event_loop(
    make_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_loop: list[bool] = []
    real = auth_module.verify_secret

    def spy(secret: str, encoded: str) -> bool:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real(secret, encoded)

    monkeypatch.setattr(auth_module, "verify_secret", spy)
    server = make_server()
    users = add_users(server.app)
    url = f"{server.collection_url(FINDINGS)}objects/"
    body = json.dumps({"objects": [indicator(1)]})
    for headers in (_basic("writer", "wrong"), users.basic(users.writer), _basic("nobody", "x")):
        httpx.post(url, headers={**POST, **headers}, content=body)
        httpx.get(url, headers={"Accept": TAXII, **headers})
    assert len(on_loop) >= 5 and not any(on_loop)


def test_failed_logins_per_user_get_429_with_retry_after(make_server: Any) -> None:
    server = make_server(login_max_failures=3, login_window=60)
    users = add_users(server.app)
    url = f"{server.collection_url(FINDINGS)}objects/"
    get = {"Accept": TAXII}
    for _ in range(3):
        assert httpx.get(url, headers={**get, **_basic("reader", "bad")}).status_code == 401
    # Now even the right password waits: the user is throttled, without a check.
    resp = httpx.get(url, headers={**get, **users.basic(users.reader)})
    assert resp.status_code == 429
    assert resp.headers["content-type"] == TAXII
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    assert resp.json()["http_status"] == "429"
    assert "user reader" in resp.json()["description"] or "client" in resp.json()["description"]


def test_limits_count_per_address_and_per_user(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    save_user(
        store.engine, "alice", password_hash=hash_secret("pw"), api_key=None, read=[], write=[]
    )
    auth = Authenticator(store.engine, [], LoginLimiter(max_failures=2, window=60))
    bad = "Basic " + base64.b64encode(b"alice:nope").decode()
    good = "Basic " + base64.b64encode(b"alice:pw").decode()
    other = "Basic " + base64.b64encode(b"bob:nope").decode()
    assert auth.authenticate(other, "10.0.0.1") is None
    assert auth.authenticate(other, "10.0.0.1") is None
    with pytest.raises(LoginThrottled) as caught:  # the address is spent, whoever it claims
        auth.authenticate(good, "10.0.0.1")
    assert "client 10.0.0.1" in caught.value.what and caught.value.retry_after >= 1
    assert auth.authenticate(good, "10.0.0.2") is not None  # another address, same user: fine
    assert auth.authenticate(bad, "10.0.0.3") is None
    assert auth.authenticate(bad, "10.0.0.4") is None
    auth._cache.clear()
    with pytest.raises(LoginThrottled) as caught:  # the user is spent, from any address
        auth.authenticate(good, "10.0.0.5")
    assert "user alice" in caught.value.what
    store.close()


def test_limiter_forgets_after_the_window_and_stays_bounded() -> None:
    limiter = LoginLimiter(max_failures=1, window=0.05, max_keys=10)
    limiter.failed("a", "user:x")
    with pytest.raises(LoginThrottled):
        limiter.check("a", None)
    import time

    time.sleep(0.06)
    limiter.check("a", "user:x")
    for n in range(100):
        limiter.failed(f"10.0.0.{n}", None)
    assert len(limiter._failures) <= 10


def test_unknown_and_known_api_key_ids_cost_one_check_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    from mlstix.taxii.auth import new_api_key

    key, key_id, key_hash = new_api_key()
    save_user(
        store.engine, "bot", password_hash=None, api_key=(key_id, key_hash), read=[], write=[]
    )
    calls: list[str] = []
    real = auth_module.verify_secret

    def count(secret: str, encoded: str) -> bool:
        calls.append(encoded)
        return real(secret, encoded)

    monkeypatch.setattr(auth_module, "verify_secret", count)
    auth = Authenticator(store.engine, [], LoginLimiter(max_failures=0))
    secret = key.split(".")[2]
    assert auth.authenticate(f"Bearer mlstix.{key_id}.wrong{secret}") is None
    assert auth.authenticate(f"Bearer mlstix.0123456789abcdef.{secret}") is None
    assert len(calls) == 2 and calls[0] == key_hash and calls[1] != key_hash
    assert auth.authenticate(f"Bearer {key}") is not None
    store.close()
