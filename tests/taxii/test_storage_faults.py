"""Storage faults: a new SQLite database is private (0600); an empty, foreign or truncated file is
refused in one line naming the file and ``PRAGMA integrity_check``; a damaged stored object is a
500 TAXII error, never a 200 with broken JSON; a full disk is 507; a restart writes nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import event
from taxii_support import FINDINGS, IDENTITY, TAXII, LiveServer, add_users, indicator

from mlstix.cli.main import cli
from mlstix.taxii._faults import DamagedDatabase
from mlstix.taxii.app import create_app
from mlstix.taxii.config import ConfigUser, ServerConfig
from mlstix.taxii.store import Store

POST = {"Accept": TAXII, "Content-Type": TAXII}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_database_and_its_journals_are_private(tmp_path: Path) -> None:
    db = tmp_path / "new" / "taxii.sqlite3"
    store = Store(f"sqlite:///{db}")
    from mlstix.taxii.auth import save_user

    save_user(store.engine, "u", password_hash=None, api_key=None, read=[], write=[])
    assert _mode(db) == 0o600
    for suffix in ("-wal", "-shm"):
        journal = Path(f"{db}{suffix}")
        if journal.exists():
            assert _mode(journal) == 0o600, suffix
    assert _mode(db.parent) == 0o700
    store.close()


def _populated(tmp_path: Path, count: int = 300) -> Path:
    db = tmp_path / "taxii.sqlite3"
    app = create_app(ServerConfig(db=f"sqlite:///{db}"), kb_loader=lambda: [dict(IDENTITY)])
    from mlstix.taxii.validate import validate_all

    valid, _ = validate_all([indicator(n, description="x" * 400) for n in range(count)], full=False)
    app.state.server.store.add_objects(FINDINGS, valid, [], "t")
    app.state.server.store.close()
    return db


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        ("empty", "is empty (0 bytes)"),
        ("foreign", "is not a SQLite database"),
        ("truncated", "is truncated"),
        ("corrupt", "is damaged"),  # header and schema intact, the tables' pages garbage
    ],
)
def test_damaged_files_are_refused_in_one_line(tmp_path: Path, damage: str, needle: str) -> None:
    db = _populated(tmp_path)
    if damage == "empty":
        db.write_bytes(b"")
    elif damage == "foreign":
        db.write_bytes(b"PK\x03\x04" + b"\x00" * 4096)
    elif damage == "corrupt":
        data = db.read_bytes()
        db.write_bytes(data[:4096] + bytes(range(256)) * ((len(data) - 4096) // 256))
    else:
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 2])
    with pytest.raises(DamagedDatabase) as caught:
        create_app(ServerConfig(db=f"sqlite:///{db}"), kb_loader=lambda: [dict(IDENTITY)])
    message = str(caught.value)
    assert needle in message and str(db) in message and "\n" not in message
    if damage != "empty":
        assert "PRAGMA integrity_check" in message
    assert db.stat().st_size == (0 if damage == "empty" else db.stat().st_size)
    config = tmp_path / "taxii.toml"
    config.write_text("load_kb = false\n")
    result = CliRunner().invoke(
        cli, ["serve", "--config", str(config)], env={"MLSTIX_TAXII_DB": f"sqlite:///{db}"}
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.output
    assert "Traceback" not in result.output


def _flip(db: Path, old: bytes, new: bytes) -> None:
    data = db.read_bytes()
    assert data.count(old) == 1, data.count(old)
    db.write_bytes(data.replace(old, new))


@pytest.mark.parametrize("digest", [True, False])
def test_damaged_rows_are_500_never_200(tmp_path: Path, digest: bool) -> None:
    db = _populated(tmp_path, count=3)
    if digest:  # same length, still valid JSON: only the digest can tell
        _flip(db, b'"name":"indicator 1"', b'"name":"indicatoR 1"')
    else:  # a row of the first release (no digest) holding broken JSON
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE taxii_objects SET body_crc = NULL")
        sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        _flip(db, b'"name":"indicator 1"', b'"name":"indicator 1\x00')
    app = create_app(
        ServerConfig(db=f"sqlite:///{db}", load_kb=False), kb_loader=lambda: [dict(IDENTITY)]
    )
    users = add_users(app)
    with LiveServer(app) as server:
        url = f"{server.collection_url(FINDINGS)}objects/"
        for _ in range(2):  # the first verifies the password, the second takes the lean path
            resp = httpx.get(url, headers={"Accept": TAXII, **users.basic(users.reader)})
            assert resp.status_code == 500, resp.text[:300]
            assert resp.headers["content-type"] == TAXII
            assert "damaged" in resp.json()["description"]
        ok = httpx.get(
            url,
            params={"match[id]": indicator(2)["id"]},
            headers={"Accept": TAXII, **users.basic(users.reader)},
        )
        assert ok.status_code == 200 and len(ok.json()["objects"]) == 1
    app.state.server.store.close()


def test_full_disk_is_507_and_nothing_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "taxii.sqlite3"
    app = create_app(ServerConfig(db=f"sqlite:///{db}"), kb_loader=lambda: [dict(IDENTITY)])
    users = add_users(app)
    engine = app.state.server.store.engine
    pages = sqlite3.connect(db).execute("PRAGMA page_count").fetchone()[0]

    def cap(dbapi_connection: Any, _record: Any) -> None:  # SQLITE_FULL past this size
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 2}")

    event.listen(engine, "connect", cap)
    engine.dispose()
    with LiveServer(app) as server:
        url = f"{server.collection_url(FINDINGS)}objects/"
        body = json.dumps({"objects": [indicator(n, description="y" * 2000) for n in range(50)]})
        resp = httpx.post(url, headers={**POST, **users.basic(users.writer)}, content=body)
        assert resp.status_code == 507, resp.text[:300]
        assert resp.headers["content-type"] == TAXII
        assert resp.json()["title"] == "Insufficient Storage"
        listing = httpx.get(url, headers={"Accept": TAXII, **users.basic(users.reader)})
        assert listing.status_code == 200 and listing.json()["objects"] == []
    app.state.server.store.close()


def _digest(db: Path) -> str:
    return hashlib.sha256(db.read_bytes()).hexdigest()


def test_a_restart_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "taxii.sqlite3"
    from mlstix.taxii.auth import hash_secret

    config = ServerConfig(
        db=f"sqlite:///{db}",
        users=(ConfigUser("ci", hash_secret("pw"), (), (FINDINGS,)),),
    )
    loader = lambda: [dict(IDENTITY)]  # noqa: E731
    create_app(config, kb_loader=loader).state.server.store.close()
    before = _digest(db)
    app = create_app(config, kb_loader=loader)
    with LiveServer(app) as server:
        assert httpx.get(f"{server.base}/taxii2/", headers={"Accept": TAXII}).status_code == 200
    app.state.server.store.close()
    assert _digest(db) == before
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_a_first_release_database_gets_digests_once(tmp_path: Path) -> None:
    db = _populated(tmp_path, count=5)
    with sqlite3.connect(db) as conn:  # as the first release stored it: no digest column
        conn.execute("ALTER TABLE taxii_objects DROP COLUMN body_crc")
        conn.execute(
            "UPDATE taxii_objects SET body = 'not json' WHERE object_id = ?", (indicator(3)["id"],)
        )
    store = Store(f"sqlite:///{db}")
    store.close()
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT object_id, body_crc FROM taxii_objects").fetchall())
    assert rows.pop(indicator(3)["id"]) is None  # damaged before the upgrade: stays unserved
    assert all(isinstance(crc, int) for crc in rows.values()) and len(rows) >= 5
    before = _digest(db)
    Store(f"sqlite:///{db}").close()
    assert _digest(db) == before  # the upgrade ran once
