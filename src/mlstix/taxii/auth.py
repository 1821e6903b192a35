"""Users, secrets and permissions of the TAXII server (TAXII 2.1 §1.6.8: HTTP authentication).

Clients authenticate with HTTP Basic (RFC 7617) or an API key sent as ``Authorization: Bearer
KEY`` (RFC 6750; ``Token KEY``, what ``taxii2-client``'s ``TokenAuth`` sends, is accepted too).
Secrets are stored only as salted ``scrypt`` hashes (RFC 7914; N=2^14, r=8, p=1, 16-byte salt).
An API key is ``mlstix.<key id>.<secret>``: the id finds the user, the secret is verified
against the hash. Verifying scrypt costs tens of milliseconds, so a verified ``Authorization``
header is remembered for a minute under an HMAC of it with a per-process random key (the
header itself is not kept); a changed user is seen within that minute. At most two checks run
at once (each takes 16 MiB and a core), and the server runs them off its event loop. Unknown
users and unknown API-key ids are checked against a dummy hash, so they take as long to refuse
as known ones. Failed logins are limited per client address and per user name
(:class:`LoginLimiter`): past the limit, requests are refused without a check (429).

Permissions are per user and per collection (read, write). Anonymous clients may read the
knowledge-base collection when the server allows it, and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, Row, delete, insert, select

from mlstix.taxii._limits import LoginLimiter, LoginThrottled
from mlstix.taxii._schema import grants, users
from mlstix.taxii.config import ConfigUser

__all__ = [
    "Authenticator",
    "LoginLimiter",
    "LoginThrottled",
    "Principal",
    "hash_secret",
    "new_api_key",
    "save_user",
    "verify_secret",
]

_N, _R, _P = 2**14, 8, 1
_CACHE_SECONDS = 60.0
_CACHE_MAX = 4096
_CHECKS = threading.BoundedSemaphore(2)  # scrypt checks running at once, per process


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_secret(secret: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(
            secret.encode("utf-8"),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown users, so that they cost as much as known ones."""
    return hash_secret(secrets.token_hex(16))


def new_api_key() -> tuple[str, str, str]:
    """(key to hand to the user once, key id, hash to store)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return f"mlstix.{key_id}.{secret}", key_id, hash_secret(secret)


@dataclass(frozen=True)
class Principal:
    name: str | None  # None: anonymous
    read: frozenset[str]
    write: frozenset[str]

    def can_read(self, collection_id: str) -> bool:
        return collection_id in self.read or collection_id in self.write

    def can_write(self, collection_id: str) -> bool:
        return collection_id in self.write


def save_user(
    engine: Engine,
    name: str,
    *,
    password_hash: str | None,
    api_key: tuple[str, str] | None,
    read: Iterable[str],
    write: Iterable[str],
) -> None:
    """Create or replace a user and its grants. ``api_key`` is (key id, hash)."""
    read_set, write_set = set(read), set(write)
    with engine.connect().execution_options(taxii_write=True) as conn, conn.begin():
        conn.execute(delete(grants).where(grants.c.user_name == name))
        conn.execute(delete(users).where(users.c.name == name))
        conn.execute(
            insert(users).values(
                name=name,
                password_hash=password_hash,
                api_key_id=api_key[0] if api_key else None,
                api_key_hash=api_key[1] if api_key else None,
            )
        )
        rows = [
            {
                "user_name": name,
                "collection_id": cid,
                "can_read": cid in read_set or cid in write_set,
                "can_write": cid in write_set,
            }
            for cid in sorted(read_set | write_set)
        ]
        if rows:
            conn.execute(insert(grants), rows)


def _stored_as(engine: Engine, user: ConfigUser) -> bool:
    """Whether ``user`` is stored exactly so (a restart then writes nothing)."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == user.name)).first()
        if row is None or row.password_hash != user.password_hash or row.api_key_id:
            return False
        rows = conn.execute(
            select(grants.c.collection_id, grants.c.can_read, grants.c.can_write).where(
                grants.c.user_name == user.name
            )
        ).all()
    write = set(user.write)
    want = {(c, True, c in write) for c in set(user.read) | write}
    return {(r[0], bool(r[1]), bool(r[2])) for r in rows} == want


def save_config_users(engine: Engine, config_users: Iterable[ConfigUser]) -> None:
    for user in config_users:
        if _stored_as(engine, user):
            continue
        save_user(
            engine,
            user.name,
            password_hash=user.password_hash,
            api_key=None,
            read=user.read,
            write=user.write,
        )


class Authenticator:
    """Turns an ``Authorization`` header into a :class:`Principal`."""

    def __init__(
        self,
        engine: Engine,
        anonymous_read: Iterable[str],
        limiter: LoginLimiter | None = None,
    ) -> None:
        self._engine = engine
        self.anonymous = Principal(None, frozenset(anonymous_read), frozenset())
        self.limiter = limiter or LoginLimiter()
        self._key = secrets.token_bytes(32)
        self._cache: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def cached(self, header: str | None) -> Principal | None:
        """The principal without checking a secret: anonymous, or a header verified within
        the last minute; ``None`` when a check is needed."""
        if not header:
            return self.anonymous
        tag = hmac.new(self._key, header.encode("utf-8", "replace"), "sha256").digest()
        hit = self._cache.get(tag)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def authenticate(self, header: str | None, address: str | None = None) -> Principal | None:
        """The principal, the anonymous one without a header, ``None`` for bad credentials.

        Blocks for a scrypt check (call it off the event loop); raises
        :class:`LoginThrottled` when ``address`` or the user failed too often."""
        hit = self.cached(header)
        if hit is not None or not header:
            return hit
        user = _claimed_user(header)
        self.limiter.check(address, user)
        with _CHECKS:
            principal = self._verify(header)
        if principal is None:
            self.limiter.failed(address, user)
            return None
        tag = hmac.new(self._key, header.encode("utf-8", "replace"), "sha256").digest()
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[tag] = (time.monotonic() + _CACHE_SECONDS, principal)
        return principal

    def _verify(self, header: str) -> Principal | None:
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            name, sep, password = decoded.partition(":")
            if not sep:
                return None
            row = self._user_row(users.c.name == name)
            if row is None or not row.password_hash:
                verify_secret(password, _dummy_hash())  # same cost as a real check
                return None
            return self._principal(row.name) if verify_secret(password, row.password_hash) else None
        if scheme.lower() in ("bearer", "token"):
            parts = value.split(".")
            if len(parts) != 3 or parts[0] != "mlstix":
                return None
            row = self._user_row(users.c.api_key_id == parts[1][:64])
            if row is None or not row.api_key_hash:
                verify_secret(parts[2], _dummy_hash())  # same cost as a real check
                return None
            return self._principal(row.name) if verify_secret(parts[2], row.api_key_hash) else None
        return None

    def _user_row(self, where: ColumnElement[bool]) -> Row[Any] | None:
        with self._engine.connect() as conn:
            return conn.execute(select(users).where(where)).first()

    def _principal(self, name: str) -> Principal:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(grants.c.collection_id, grants.c.can_read, grants.c.can_write).where(
                    grants.c.user_name == name
                )
            ).all()
        read = {r[0] for r in rows if r[1]} | set(self.anonymous.read)
        write = {r[0] for r in rows if r[2]}
        return Principal(name, frozenset(read), frozenset(write))


def _claimed_user(header: str) -> str | None:
    """The user name (Basic) or API-key id (Bearer) a header claims, for the login limits."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, sep, _ = decoded.partition(":")
        return f"user:{name[:200]}" if sep else None
    parts = value.strip().split(".")
    return f"key:{parts[1][:64]}" if len(parts) == 3 else None
