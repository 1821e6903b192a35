"""The lean read path's readers (SQLite and PostgreSQL) against the store's own query: for every
filter, cursor and byte cap, the same objects in the same order with the same bytes and the same
``more``; and each reader's data version moves with every write of objects (its page cache
relies on it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from taxii_support import FINDINGS, indicator, vulnerability

from mlstix.taxii._lean import Reader, reader_for
from mlstix.taxii.config import KB_COLLECTION_ID
from mlstix.taxii.store import CollectionInfo, Filters, Store, VersionFilter
from mlstix.taxii.validate import validate_all

_MAX = 10 * 1024 * 1024


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` on a thread of its own: a session fixture elsewhere in this worker (the
    explorer's sync Playwright) may hold an event loop running on the main thread."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store(db_url)
    for cid, alias in ((FINDINGS, "findings"), (KB_COLLECTION_ID, "kb")):
        store.ensure_collection(CollectionInfo(cid, alias, "", alias, writable=True))
    objects: list[dict[str, Any]] = []
    for n in range(1, 8):
        objects.append(indicator(n))
        if n % 2:  # a second and a third version of the odd ones
            objects.append(indicator(n, modified="2026-02-02T00:00:00.000Z"))
            objects.append(indicator(n, modified="2026-02-03T00:00:00.000Z", name="é ✓"))
        objects.append(vulnerability(n))
    valid, rejected = validate_all(objects, full=False)
    assert not rejected
    for start in range(0, len(valid), 5):  # several commits
        store.add_objects(FINDINGS, valid[start : start + 5], [], "t")
    store.add_objects(KB_COLLECTION_ID, valid[:3], [], "t")
    yield store
    store.close()


def _filters() -> list[Filters]:
    stamp = 1_769_990_400_000_000  # 2026-02-02T00:00:00Z
    return [
        Filters(),
        Filters(versions=VersionFilter(all=True)),
        Filters(versions=VersionFilter(first=True, last=False)),
        Filters(versions=VersionFilter(first=True, last=True)),
        Filters(versions=VersionFilter(last=False, timestamps=(stamp,))),
        Filters(types=("vulnerability",)),
        Filters(types=("indicator", "vulnerability"), versions=VersionFilter(all=True)),
        Filters(ids=(indicator(3)["id"], vulnerability(5)["id"]), versions=VersionFilter(all=True)),
        Filters(spec_versions=("2.1",)),
        Filters(spec_versions=("2.0",)),
        Filters(ids=("indicator--no-such",)),
    ]


async def _walk(reader: Reader, flt: Filters, limit: int, max_bytes: int) -> list[Any]:
    pages, after = [], None
    while True:
        page = await reader.page(FINDINGS, flt, limit, after, max_bytes)
        assert page is not None
        pages.append(([json.loads(b) for b in page.bodies], page.more))
        if not page.more:
            return pages
        after = page.last_added


def _walk_store(store: Store, flt: Filters, limit: int, max_bytes: int) -> list[Any]:
    pages, after = [], None
    while True:
        page = store.query(FINDINGS, flt, limit, after, max_bytes=max_bytes)
        pages.append(([json.loads(o.body) for o in page.items], page.more))
        if not page.more:
            return pages
        after = page.last_key


@pytest.mark.parametrize("limit", [1, 4, 100])
def test_readers_page_like_the_store(store: Store, db_url: str, limit: int) -> None:
    reader = reader_for(db_url)
    assert reader is not None

    async def check() -> None:
        try:
            for flt in _filters():
                for cap in (_MAX, 700):  # 700 bytes: about two objects, then `next`
                    want = _walk_store(store, flt, limit, cap)
                    assert await _walk(reader, flt, limit, cap) == want, (flt, cap)
                added_after = Filters(added_after=store.query(FINDINGS, flt, 3, None).last_key)
                if added_after.added_after is not None:
                    flt = Filters(added_after=added_after.added_after[0])
                    want = _walk_store(store, flt, limit, _MAX)
                    assert await _walk(reader, flt, limit, _MAX) == want
        finally:
            await reader.aclose()

    _run(check())


def test_the_version_moves_with_every_write_of_objects(store: Store, db_url: str) -> None:
    """SQLite's version (``data_version``) moves with every commit; PostgreSQL's (the
    collection's ``last_added``) with every write of objects to that collection."""
    reader = reader_for(db_url)
    assert reader is not None
    sqlite = db_url.startswith("sqlite")

    async def page_version() -> int | None:
        page = await reader.page(FINDINGS, Filters(), 5, None, _MAX)
        assert page is not None
        return page.version

    async def check() -> None:
        try:
            seen = [await reader.version(FINDINGS)]
            assert await page_version() == seen[0]
            valid, _ = validate_all([indicator(100)], full=False)
            store.add_objects(FINDINGS, valid, [], "t")
            seen.append(await reader.version(FINDINGS))
            store.add_objects(FINDINGS, valid, [], "t")  # already stored: no object changes
            if not sqlite:  # (SQLite: the status resource is a commit too)
                assert await reader.version(FINDINGS) == seen[-1]
            store.delete_object(FINDINGS, indicator(100)["id"], Filters())
            seen.append(await reader.version(FINDINGS))
            assert await page_version() == seen[-1]
            assert None not in seen and len(set(seen)) == 3, seen
            if not sqlite:  # per collection: a write to another one leaves this version alone
                store.add_objects(KB_COLLECTION_ID, valid, [], "t")
                assert await reader.version(FINDINGS) == seen[-1]
            empty = await reader.page(FINDINGS, Filters(types=("tool",)), 5, None, _MAX)
            assert empty is not None and empty.bodies == [] and empty.version is None
        finally:
            await reader.aclose()

    _run(check())


def test_a_reader_that_cannot_answer_says_so(store: Store, db_url: str) -> None:
    """A database gone away: ``None`` (the app answers and reports it), never an exception."""
    reader = reader_for(db_url)
    assert reader is not None

    async def check() -> None:
        assert await reader.version(FINDINGS) is not None
        await reader.aclose()
        assert await reader.version(FINDINGS) is None
        assert await reader.page(FINDINGS, Filters(), 10, None, _MAX) is None

    _run(check())
