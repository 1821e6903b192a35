"""The incremental state (SQLite, and PostgreSQL when MLSTIX_TEST_POSTGRES_URL is set): what is
reused, what is scanned again, and what a damaged or unreachable state does."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlstix.errors import MlstixError
from mlstix.scan.models import Limits, ScanOptions, ScanPolicy
from mlstix.scan.remote import RemoteOptions, RemoteStats, scan_remote

from . import registry

PG_ENV = "MLSTIX_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "state.db")
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    import sqlalchemy

    name = f"mlstix_r_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sqlalchemy.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _scan(kb: Any, state: str, **options: Any) -> tuple[Any, RemoteStats]:
    stats = RemoteStats()
    opts = ScanOptions(hash_files=False, isolate=False, **options)
    report = scan_remote(["memory://reg"], kb, opts, RemoteOptions(state=state), stats=stats)
    return report, stats


@pytest.fixture
def reg(memfs: Any) -> Any:
    memfs.pipe("/reg/a/model.safetensors", registry.safetensors(2, 1 << 16, b"a"))
    memfs.pipe("/reg/b/evil.pt", registry.torch_zip(registry.PAYLOAD, 1 << 16))
    memfs.pipe("/reg/c/model.pkl", registry.benign_pickle())
    return memfs


def test_unchanged_objects_are_reused_with_their_findings(reg: Any, kb: Any, state: str) -> None:
    first, s1 = _scan(kb, state)
    again, s2 = _scan(kb, state)
    assert (s1.analysed, s1.reused) == (3, 0)
    assert (s2.analysed, s2.reused, s2.fetched_bytes) == (0, 3, 0)
    assert again.findings == first.findings
    assert [s.path for s in again.scanned] == [s.path for s in first.scanned]


def test_changed_added_and_deleted_objects(reg: Any, kb: Any, state: str) -> None:
    _scan(kb, state)
    reg.pipe("/reg/a/model.safetensors", registry.torch_zip(registry.PAYLOAD, 1 << 10))
    reg.pipe("/reg/d/new.pkl", registry.PAYLOAD)
    reg.rm("/reg/c/model.pkl")
    report, stats = _scan(kb, state)
    assert (stats.analysed, stats.reused) == (2, 1)
    evil = {f.location.path for f in report.findings if f.severity.value == "critical"}
    assert evil == {"memory://reg/a/model.safetensors", "memory://reg/b/evil.pt",
                    "memory://reg/d/new.pkl"}  # fmt: skip
    assert "memory://reg/c/model.pkl" not in {s.path for s in report.scanned}


def test_other_settings_scan_everything_again(reg: Any, kb: Any, state: str) -> None:
    _scan(kb, state)
    _, stats = _scan(kb, state, policy=ScanPolicy(allow_imports=("os.system",)))
    assert stats.analysed == 3
    _, stats = _scan(kb, state, limits=Limits(timeout=60))
    assert stats.analysed == 3


def test_errors_are_not_remembered(reg: Any, kb: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    reg.pipe("/reg/e/broken.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    first, _ = _scan(kb, db)
    assert [e.path for e in first.errors] == ["memory://reg/e/broken.safetensors"]
    again, stats = _scan(kb, db)
    assert stats.analysed == 1  # the broken one, every time
    assert [e.path for e in again.errors] == ["memory://reg/e/broken.safetensors"]


@pytest.mark.parametrize(
    "hits", ["{not json", '{"a": 1}', '[{"rule": 1}]', '[3]', '[{"rule_id": "models/gone", '
             '"message": "x"}]'],
)  # fmt: skip
def test_damaged_rows_are_scanned_again(reg: Any, kb: Any, tmp_path: Path, hits: str) -> None:
    db = tmp_path / "state.db"
    _scan(kb, str(db))
    with sqlite3.connect(db) as conn:
        conn.execute("update mlstix_remote_scan_state set hits = ?", (hits,))
    _, stats = _scan(kb, str(db))
    assert stats.analysed == 3


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("{tmp}", "is a folder"),
        ("{tmp}/missing/state.db", "no such folder"),
        ("{tmp}/not-a-db", "cannot open"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/x", "cannot open"),
    ],
)
def test_unusable_state_is_one_error(reg: Any, kb: Any, tmp_path: Path, where: str,
                                     message: str) -> None:  # fmt: skip
    (tmp_path / "not-a-db").write_bytes(b"this is not a database file" * 100)
    with pytest.raises(MlstixError, match=message) as err:
        _scan(kb, where.format(tmp=tmp_path))
    assert "\n" not in str(err.value)  # one line


def test_state_url_password_is_never_shown(reg: Any, kb: Any) -> None:
    with pytest.raises(MlstixError) as err:
        _scan(kb, "postgresql+psycopg://scanner:s3cret-pw@127.0.0.1:1/x")
    assert "s3cret-pw" not in err.value.diagnostics()


def test_everything_excluded_is_nothing_to_scan(reg: Any, kb: Any) -> None:
    from mlstix.errors import UsageError

    with pytest.raises(UsageError, match="nothing to scan"):
        scan_remote(["memory://reg"], kb, ScanOptions(policy=ScanPolicy(ignore_paths=("*",))))
