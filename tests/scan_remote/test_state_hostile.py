"""The incremental state under hostile conditions: objects replaced or deleted while a scan runs,
a state written for other locations, by another schema or by other rules, and state files that
are damaged or are not a scan state at all. In each case a rescan either reports what the
location holds now or stops with one error line; it never reuses a result it cannot vouch for."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from mlstix.findings.model import Report
from mlstix.scan.models import ScanOptions
from mlstix.scan.remote import RemoteOptions, RemoteStats, scan_remote
from mlstix.scan.remote import _scan as remote_scan
from mlstix.scan.remote._state import SCHEMA, StateError, StateStore

from . import registry


def _scan(kb: Any, state: Path | str, *roots: str) -> tuple[Report, RemoteStats]:
    stats = RemoteStats()
    opts = ScanOptions(hash_files=False, isolate=False)
    report = scan_remote(
        list(roots or ["memory://reg"]), kb, opts, RemoteOptions(state=str(state)), stats=stats
    )
    return report, stats


def _critical(report: Report) -> set[str]:
    return {f.location.path for f in report.findings if f.severity.value == "critical"}


def _rows(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("select url, identity from mlstix_remote_scan_state"))


@pytest.fixture
def reg(memfs: Any) -> Any:
    memfs.pipe("/reg/a/model.safetensors", registry.safetensors(2, 1 << 12, b"a"))
    memfs.pipe("/reg/b/evil.pt", registry.torch_zip(registry.PAYLOAD, 1 << 12))
    memfs.pipe("/reg/c/model.pkl", registry.benign_pickle())
    return memfs


def _after_listing(monkeypatch: pytest.MonkeyPatch, change: Any) -> None:
    """Run ``change()`` once the objects are listed, before any is read."""
    listed = remote_scan._list_all

    def list_then_change(*args: Any) -> Any:
        objs = listed(*args)
        change()
        return objs

    monkeypatch.setattr(remote_scan, "_list_all", list_then_change)


@pytest.mark.parametrize("pad", [153 - 21, 64], ids=["same-size", "other-size"])
def test_object_replaced_after_listing_is_scanned_again_next_time(
    reg: Any, kb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pad: int
) -> None:
    db = tmp_path / "state.db"
    assert len(registry.benign_pickle()) == 153 and len(registry.PAYLOAD) == 21
    # a benign pickle is listed, then swapped for a payload before the scan reads it
    with monkeypatch.context() as mp:
        _after_listing(mp, lambda: reg.pipe("/reg/c/model.pkl", registry.PAYLOAD + b"." * pad))
        during, _ = _scan(kb, db)
    # the scan that raced the change reports the object as unreadable or as the payload, and
    # never remembers a clean result for what was listed
    assert "memory://reg/c/model.pkl" in _critical(during) | {e.path for e in during.errors}
    listed_then = _rows(db).get("memory://reg/c/model.pkl")
    # the next scan sees another identity and analyses the object again
    again, stats = _scan(kb, db)
    assert stats.analysed == 1 and stats.reused == 2
    assert _critical(again) == {"memory://reg/b/evil.pt", "memory://reg/c/model.pkl"}
    assert _rows(db)["memory://reg/c/model.pkl"] != listed_then
    # and a rescan listed before a change reports what was listed, not half of each
    with monkeypatch.context() as mp:
        _after_listing(mp, lambda: reg.pipe("/reg/c/model.pkl", registry.benign_pickle()))
        racing, stats = _scan(kb, db)
    assert stats.reused == 3 and "memory://reg/c/model.pkl" in _critical(racing)
    final, stats = _scan(kb, db)
    assert stats.analysed == 1 and _critical(final) == {"memory://reg/b/evil.pt"}


def test_object_deleted_after_listing_is_an_error_and_leaves_the_state(
    reg: Any, kb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "state.db"
    reg.pipe("/reg/d/new.pkl", registry.benign_pickle())
    with monkeypatch.context() as mp:
        _after_listing(mp, lambda: reg.rm("/reg/d/new.pkl"))
        report, _ = _scan(kb, db)
    assert [e.path for e in report.errors] == ["memory://reg/d/new.pkl"]
    assert "memory://reg/d/new.pkl" not in _rows(db)  # an error is never remembered
    again, stats = _scan(kb, db)  # gone for good: not listed, not reported, nothing to reuse
    assert (stats.objects, stats.analysed, stats.reused) == (3, 0, 3)
    assert not again.errors


def test_state_of_other_locations_is_neither_used_nor_pruned(
    reg: Any, kb: Any, tmp_path: Path
) -> None:
    db = tmp_path / "state.db"
    reg.pipe("/reg2/a/model.safetensors", registry.safetensors(2, 1 << 12, b"a"))
    reg.pipe("/re_g/x.pkl", registry.PAYLOAD)  # a LIKE wildcard in the name matches nothing else
    _scan(kb, db, "memory://reg")
    _, other = _scan(kb, db, "memory://reg2")
    assert (other.analysed, other.reused) == (1, 0)  # a sibling prefix shares no rows
    wild, stats = _scan(kb, db, "memory://re_g")
    assert (stats.analysed, stats.reused) == (1, 0) and _critical(wild) == {"memory://re_g/x.pkl"}
    _, sub = _scan(kb, db, "memory://reg/b")  # a sub-prefix reuses its rows, prunes no others
    assert (sub.analysed, sub.reused) == (0, 1)
    _, again = _scan(kb, db, "memory://reg")
    assert (again.analysed, again.reused) == (0, 3)
    assert len(_rows(db)) == 5


def test_results_of_other_rules_are_recomputed(
    reg: Any, kb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "state.db"
    _scan(kb, db)
    monkeypatch.setattr(remote_scan, "rule_version", lambda: "another-rule-version")
    _, stats = _scan(kb, db)
    assert (stats.analysed, stats.reused) == (3, 0)
    monkeypatch.setattr(remote_scan, "__version__", "999.0")
    _, stats = _scan(kb, db)
    assert (stats.analysed, stats.reused) == (3, 0)
    _, stats = _scan(kb, db)
    assert (stats.analysed, stats.reused) == (0, 3)


def test_rule_version_follows_every_rule_and_analyzer_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "fake_scanner"
    (pkg / "formats").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "formats" / "pickle.py").write_text("DANGEROUS = ['os.system']\n")
    (pkg / "models.yaml").write_text("- id: models/x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(remote_scan, "_RULE_SOURCES", (("fake_scanner", ""),))

    def version() -> str:
        remote_scan.rule_version.cache_clear()
        return remote_scan.rule_version()

    try:
        seen = {version()}
        (pkg / "formats" / "pickle.py").write_text("DANGEROUS = ['os.system', 'posix.system']\n")
        seen.add(version())
        (pkg / "models.yaml").write_text("- id: models/x\n- id: models/y\n")
        seen.add(version())
        (pkg / "formats" / "__pycache__").mkdir()
        (pkg / "formats" / "__pycache__" / "pickle.cpython-311.pyc").write_bytes(b"\0" * 16)
        assert version() in seen  # compiled caches are not the rules
        assert len(seen) == 3
    finally:
        remote_scan.rule_version.cache_clear()
        sys.modules.pop("fake_scanner", None)


def test_state_from_before_the_schema_was_recorded_is_read(
    reg: Any, kb: Any, tmp_path: Path
) -> None:
    db = tmp_path / "state.db"
    _scan(kb, db)
    with sqlite3.connect(db) as conn:
        conn.execute("drop table mlstix_remote_scan_meta")
    _, stats = _scan(kb, db)
    assert stats.reused == 3
    with sqlite3.connect(db) as conn:
        assert conn.execute("select value from mlstix_remote_scan_meta").fetchall() == [
            (str(SCHEMA),)
        ]


def _newer(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("update mlstix_remote_scan_meta set value = ?", (str(SCHEMA + 1),))


def _foreign(db: Path) -> None:
    db.unlink()
    with sqlite3.connect(db) as conn:
        conn.execute("create table mlstix_remote_scan_state (url text primary key, n int)")


def _garbage_pages(db: Path) -> None:
    with sqlite3.connect(db) as conn:  # enough rows for the table to span several pages
        conn.executemany(
            "insert into mlstix_remote_scan_state values (?, 'i', 'f', null, null, '[]', 0)",
            [(f"memory://reg/z/{i:05d}.bin" + "x" * 200,) for i in range(300)],
        )
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for start in range(page, len(data), page):  # every page but the first: not a b-tree page
        data[start : start + page] = b"\xa5" * page
    db.write_bytes(bytes(data))


def _truncated(db: Path) -> None:
    _garbage_pages(db)
    db.write_bytes(db.read_bytes()[:1000])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_newer, "written by another mlstix"),
        (_foreign, "cannot open: no such column"),
        (_garbage_pages, "malformed"),
        (_truncated, "malformed"),
        (lambda db: db.write_bytes(b"SQLite format 3\0" + b"\xff" * 200), "not a database"),
        (lambda db: db.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 5000), "not a database"),
    ],
    ids=["newer-schema", "foreign-table", "garbage-pages", "truncated", "bad-header", "png"],
)
def test_damaged_or_foreign_state_is_one_error(
    reg: Any, kb: Any, tmp_path: Path, damage: Any, message: str
) -> None:
    db = tmp_path / "state.db"
    _scan(kb, db)
    damage(db)
    with pytest.raises(StateError, match=message) as err:
        _scan(kb, db)
    assert "\n" not in str(err.value) and err.value.hint  # one line, and what to do about it


def test_an_empty_state_file_is_a_new_state(reg: Any, kb: Any, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"")  # `touch state.db`: SQLite's empty database
    _, stats = _scan(kb, db)
    assert stats.analysed == 3
    _, stats = _scan(kb, db)
    assert stats.reused == 3


def test_state_rows_with_wrong_types_are_scanned_again(reg: Any, kb: Any, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    _scan(kb, db)
    hits = '[{"rule_id": "models/unreadable", "message": {"x": 1}}]'
    with sqlite3.connect(db) as conn:
        conn.execute("update mlstix_remote_scan_state set hits = ? where url like '%c/%'", (hits,))
        conn.execute("update mlstix_remote_scan_state set kind = x'00' where url like '%a/%'")
    _, stats = _scan(kb, db)
    assert (stats.analysed, stats.reused) == (2, 1)


def test_state_urls_never_show_a_password(tmp_path: Path) -> None:
    for where in (
        "postgresql+psycopg://scanner:s3cret-pw@127.0.0.1:1/x",
        "postgresql+psycopg://scanner@127.0.0.1:1/x?password=s3cret-pw",
    ):
        with pytest.raises(StateError) as err:
            StateStore(where)
        assert "s3cret-pw" not in err.value.diagnostics()
