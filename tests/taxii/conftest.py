"""Fixtures of the TAXII tests: a fresh database (SQLite, and PostgreSQL when
MLSTIX_TEST_POSTGRES_URL is set) and live servers on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from taxii_support import IDENTITY, PG_ENV, LiveServer, Users, add_users

from mlstix.taxii.app import create_app
from mlstix.taxii.config import ServerConfig


def _pg_database(base: str) -> Iterator[str]:
    import sqlalchemy

    name = f"mlstix_t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sqlalchemy.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, empty database: SQLite always, PostgreSQL when MLSTIX_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'taxii.sqlite3'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    yield from _pg_database(base)


ServerFactory = Callable[..., LiveServer]


@pytest.fixture
def make_server(db_url: str) -> Iterator[ServerFactory]:
    """Start servers on the test database; every one is stopped at the end."""
    started: list[LiveServer] = []

    def make(**settings: Any) -> LiveServer:
        loader = settings.pop("kb_loader", lambda: [dict(IDENTITY)])
        config = ServerConfig(db=db_url, **settings)
        live = LiveServer(create_app(config, kb_loader=loader)).__enter__()
        started.append(live)
        return live

    yield make
    for live in reversed(started):
        live.__exit__()
        live.app.state.server.store.close()


@pytest.fixture
def live(make_server: ServerFactory) -> tuple[LiveServer, Users]:
    server = make_server()
    return server, add_users(server.app)
