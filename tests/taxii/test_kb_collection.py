"""The knowledge-base collection is built from the packaged KB at start (no stix/ folder
needed), idempotently, and several servers may share one database."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from taxii_support import FINDINGS, KB, TAXII, LiveServer, add_users, indicator

from mlstix.taxii.app import KB_TITLE, create_app
from mlstix.taxii.config import ServerConfig
from mlstix.taxii.kbcontent import kb_objects


def _all(url: str, headers: dict[str, str], **params: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    query: dict[str, str] = {"limit": "1000", **params}
    while True:
        page = httpx.get(url, headers={"Accept": TAXII, **headers}, params=query).json()
        out.extend(page["objects"])
        if not page["more"]:
            return out
        query["next"] = page["next"]


def test_kb_collection_holds_the_compiled_knowledge_base(tmp_path: Path) -> None:
    expected = kb_objects()
    types = {o["type"] for o in expected}
    assert {"attack-pattern", "vulnerability", "course-of-action", "relationship"} <= types
    assert "extension-definition" in types
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    app = create_app(ServerConfig(db=url))
    with LiveServer(app) as server:
        listing = httpx.get(f"{server.root}collections/", headers={"Accept": TAXII}).json()
        kb = next(c for c in listing["collections"] if c["id"] == KB)
        assert kb["title"] == KB_TITLE and kb["can_write"] is False
        served = _all(f"{server.collection_url(KB)}objects/", {})
    assert sorted(json.dumps(o, sort_keys=True) for o in served) == sorted(
        json.dumps(o, sort_keys=True) for o in expected
    )
    app.state.server.store.close()
    # A restart stores nothing twice.
    again = create_app(ServerConfig(db=url))
    assert again.state.server.store.count(KB) == len(expected)
    again.state.server.store.close()


def test_invalid_kb_content_stops_the_server(tmp_path: Path) -> None:
    from mlstix.errors import KbDataError

    bad = {"type": "indicator", "id": "indicator--nope"}
    with pytest.raises(KbDataError, match="indicator--nope"):
        create_app(ServerConfig(db=f"sqlite:///{tmp_path / 'x.sqlite3'}"), kb_loader=lambda: [bad])


def test_two_servers_share_one_database(make_server: object) -> None:
    """Two server instances (as behind a load balancer) write at once: date_added stays unique
    and strictly increasing, and a listing sees every object exactly once."""
    one = make_server()  # type: ignore[operator]
    two = make_server()  # type: ignore[operator]
    users = add_users(one.app)
    auth = users.basic(users.writer)
    errors: list[str] = []

    def post(server: LiveServer, offset: int) -> None:
        with httpx.Client(headers={"Accept": TAXII, "Content-Type": TAXII, **auth}) as client:
            for i in range(8):
                batch = [indicator(offset + i * 10 + k) for k in range(10)]
                resp = client.post(
                    f"{server.collection_url(FINDINGS)}objects/",
                    content=json.dumps({"objects": batch}),
                )
                if resp.status_code != 202 or resp.json()["success_count"] != 10:
                    errors.append(resp.text)

    threads = [
        threading.Thread(target=post, args=(one, 0)),
        threading.Thread(target=post, args=(two, 1000)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    manifest = _all(f"{two.collection_url(FINDINGS)}manifest/", auth)
    added = [str(m["date_added"]) for m in manifest]
    assert len(manifest) == 160 and len({m["id"] for m in manifest}) == 160
    assert added == sorted(added) and len(set(added)) == len(added)
    # Paging through one server with small pages sees the same, in the same order.
    paged = _all(f"{one.collection_url(FINDINGS)}objects/", auth, limit="7")
    assert [o["id"] for o in paged] == [m["id"] for m in manifest]
