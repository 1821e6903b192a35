"""Settings of the TAXII 2.1 server, from defaults, a TOML file and the command line.

The file (``--config FILE``) is TOML with the keys of :class:`ServerConfig`, e.g.::

    db = "postgresql://taxii@db.internal/taxii"
    host = "0.0.0.0"
    port = 9000
    anonymous_kb_read = true
    max_content_length = 10485760

    [users.scanner]
    password_hash = "scrypt$..."      # from `mlstix serve hash-password`
    write = ["findings"]

Passwords are never written in clear: a user in the file carries only the salted hash (see
:mod:`mlstix.taxii.auth`); the users of the file are written into the database at every start,
replacing users of the same name. API keys are made by ``mlstix serve adduser --api-key``.
The database location defaults to a SQLite file in the user's data directory
(``$XDG_DATA_HOME/mlstix/taxii.sqlite3``); ``MLSTIX_TAXII_DB`` sets it without putting a
PostgreSQL password on the command line. Deployment settings (``public_url``, ``workers``, the
limits) are described in docs/taxii.md.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mlstix.errors import UsageError

__all__ = [
    "FINDINGS_COLLECTION_ID",
    "KB_COLLECTION_ID",
    "ConfigUser",
    "ServerConfig",
    "default_db_url",
    "load_config",
    "normalize_db_url",
    "resolve_collection",
]

# Fixed ids, so every process, every restart and every client sees the same collections.
KB_COLLECTION_ID = "3b4a7f0e-2d55-4f8c-9a1e-6c2f1d0b9e31"
FINDINGS_COLLECTION_ID = "9d2c5e61-8b7a-4f3e-b0c4-1a6e2f7d3c58"
_SHORT_NAMES = {"kb": KB_COLLECTION_ID, "findings": FINDINGS_COLLECTION_ID}


def resolve_collection(name: str) -> str:
    """A collection id from an id or a short name (``kb``, ``findings``)."""
    return _SHORT_NAMES.get(name.lower(), name)


@dataclass(frozen=True)
class ConfigUser:
    name: str
    password_hash: str | None = None
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerConfig:
    db: str = ""
    host: str = "127.0.0.1"
    port: int = 9000
    api_root: str = "mlstix"
    title: str = "mlstix TAXII 2.1 server"
    anonymous_kb_read: bool = True
    max_content_length: int = 10 * 1024 * 1024
    max_page_size: int = 1000
    default_page_size: int = 100
    certfile: str | None = None
    keyfile: str | None = None
    full_validation: bool = False
    load_kb: bool = True
    # Deployment (docs/taxii.md): the base URL clients use, processes, proxies, the API docs.
    public_url: str = ""
    workers: int = 1
    forwarded_allow_ips: str = "127.0.0.1"
    api_docs: bool = False
    # Limits on what one client can make the server hold or do.
    max_objects_per_envelope: int = 10_000
    max_page_bytes: int = 4 * 1024 * 1024
    max_status_details: int = 1000
    page_cache_bytes: int = 64 * 1024 * 1024
    status_retention_days: int = 30
    header_timeout: int = 10
    body_timeout: int = 30
    max_connections: int = 1000
    login_max_failures: int = 10
    login_window: int = 60
    users: tuple[ConfigUser, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in (
            "port", "workers", "max_content_length", "max_page_size", "default_page_size",
            "max_objects_per_envelope", "max_page_bytes", "max_status_details",
            "status_retention_days", "header_timeout", "body_timeout", "max_connections",
            "page_cache_bytes",
            "login_max_failures", "login_window",
        ):  # fmt: skip
            value = getattr(self, name)
            low = 0 if name in ("port", "status_retention_days", "login_max_failures") else 1
            low = 0 if name == "page_cache_bytes" else low
            if not low <= value <= 2**40:
                raise UsageError(f"setting {name} must be an integer of at least {low}")
        if self.port > 65_535:
            raise UsageError(f"setting port must be a TCP port (0-65535), not {self.port}")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise UsageError(f"public_url {self.public_url!r} must start with http:// or https://")

    @property
    def base_url(self) -> str:
        """Where clients reach the server: ``public_url``, else the address it listens on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.certfile else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def with_overrides(self, **values: Any) -> ServerConfig:
        """A copy with every value that is not ``None`` replaced."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    @property
    def db_url(self) -> str:
        return normalize_db_url(self.db or default_db_url())


def default_db_url() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'mlstix' / 'taxii.sqlite3'}"


def normalize_db_url(url: str) -> str:
    """Pick the drivers we ship: psycopg 3 for PostgreSQL (SQLAlchemy's default is psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith(("sqlite://", "postgresql+psycopg://")):
        raise UsageError(
            f"unsupported database URL {url!r}",
            hint="use sqlite:///PATH or postgresql://USER@HOST/DB",
        )
    return url


# Setting name -> the Python type a TOML value must have (annotations are strings here).
_SCALARS: dict[str, type] = {
    f.name: {"int": int, "bool": bool}.get(str(f.type), str)
    for f in fields(ServerConfig)
    if f.name != "users"
}


def _user(name: str, raw: Any, where: str) -> ConfigUser:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: [users.{name}] must be a table")
    unknown = set(raw) - {"password_hash", "read", "write"}
    if unknown:
        raise UsageError(f"{where}: [users.{name}] has unknown keys {sorted(unknown)}")
    for key in ("read", "write"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{where}: users.{name}.{key} must be a list of collection names")
    if not isinstance(raw.get("password_hash"), str):
        raise UsageError(f"{where}: users.{name}.password_hash must be a string")
    return ConfigUser(
        name=name,
        password_hash=raw.get("password_hash"),
        read=tuple(resolve_collection(c) for c in raw.get("read", [])),
        write=tuple(resolve_collection(c) for c in raw.get("write", [])),
    )


def load_config(path: Path | None) -> ServerConfig:
    """The settings in ``path`` (TOML) over the defaults; errors name the file and the key."""
    if path is None:
        return ServerConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the configuration {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "users":
            if not isinstance(value, dict):
                raise UsageError(f"{path}: 'users' must be a table of tables")
            values["users"] = tuple(_user(n, u, str(path)) for n, u in value.items())
            continue
        if key not in _SCALARS:
            raise UsageError(
                f"{path}: unknown setting {key!r}", hint=f"known: {', '.join(sorted(_SCALARS))}"
            )
        expected = _SCALARS[key]
        if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise UsageError(f"{path}: {key} must be an integer")
        if expected is bool and not isinstance(value, bool):
            raise UsageError(f"{path}: {key} must be true or false")
        if expected is str and not isinstance(value, str):
            raise UsageError(f"{path}: {key} must be a string")
        values[key] = value
    return ServerConfig(**values)
