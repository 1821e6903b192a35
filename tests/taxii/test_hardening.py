"""The TAXII server audited as one about to go on a network (issue 11 §2): bad input anywhere is a
400 with a TAXII error body, never a 500; sizes are capped (objects per envelope, bytes per page,
status details); statuses are pruned; links never echo ``Host``; the API docs are a setting;
re-posting the same object with its keys in another order is "already stored"."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from taxii_support import FINDINGS, KB, TAXII, LiveServer, Users, add_users, indicator

from mlstix.taxii._query import encode_cursor
from mlstix.taxii._time import now_us

POST = {"Accept": TAXII, "Content-Type": TAXII}
GET = {"Accept": TAXII}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'taxii.sqlite3'}"


def _objects(server: LiveServer, cid: str = KB) -> str:
    return f"{server.collection_url(cid)}objects/"


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _is_taxii_error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text[:500]
    assert resp.headers["content-type"] == TAXII
    body: dict[str, Any] = resp.json()
    assert body["http_status"] == str(status) and body["title"]
    return body


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("limit=%D9%A1%D9%A2", "limit"),  # Arabic-Indic digits: str.isdigit() says yes
        ("limit=%C2%B2", "limit"),  # superscript two
        ("limit=" + "9" * 5000, "limit"),  # past int()'s 4300-digit limit
        ("added_after=%D9%A2%D9%A0%D9%A2%D9%A6-01-01T00:00:00Z", "added_after"),
        ("next=" + _cursor(b'[1, true, "x"]'), "next"),
        ("next=" + _cursor(b'[1, 1.5, "x"]'), "next"),
        ("next=" + _cursor(b'[1, 99999999999999999999999999, "x"]'), "next"),
        ("next=" + _cursor(b'[1, -5, "x"]'), "next"),
        ("next=" + _cursor(b'{"a": 1, "b": 2, "c": 3}'), "next"),
        ("next=" + _cursor(b'[1, 1, ["x"]]'), "next"),
        ("next=" + _cursor(b"[" * 5000), "next"),
        ("next=" + _cursor(b"null"), "next"),
        ("next=" + "A" * 5000, "next"),
        ("next=%ED%A0%80", "next"),  # a lone surrogate, UTF-8 encoded
        ("match[id]=" + ",".join(f"x{i}" for i in range(600)), "match[id]"),
    ],
)
def test_hostile_queries_on_the_anonymous_kb_are_400(
    make_server: Any, query: str, needle: str
) -> None:
    server = make_server()
    body = _is_taxii_error(httpx.get(f"{_objects(server)}?{query}", headers=GET), 400)
    assert body["description"].startswith(needle)


@pytest.mark.parametrize(
    "body",
    [
        b'{"objects": ' + b"[" * 1000 + b"]" * 1000 + b"}",  # JSON nested ~1,000 deep
        b'{"objects": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_deep_json_is_400(live: tuple[LiveServer, Users], body: bytes) -> None:
    server, users = live
    resp = httpx.post(
        _objects(server, FINDINGS), headers={**POST, **users.basic(users.writer)}, content=body
    )
    assert resp.status_code in (400, 202), resp.text[:300]
    if resp.status_code == 202:  # parsed: then the one object must be rejected, not stored
        assert resp.json()["failure_count"] == 1


def test_deep_and_surrogate_objects_are_rejected_and_the_server_answers(
    live: tuple[LiveServer, Users],
) -> None:
    server, users = live
    deep: Any = "leaf"
    for _ in range(900):
        deep = {"x_nest": deep}
    objects = [
        indicator(1, x_deep=deep),
        indicator(2, name="lone \ud800"),
        indicator(3, **{"x_\udfff": 1}),
        indicator(4),
    ]
    text = json.dumps({"objects": objects})  # \ud800 escapes: valid JSON text
    resp = httpx.post(
        _objects(server, FINDINGS),
        headers={**POST, **users.basic(users.writer)},
        content=text.encode(),
    )
    assert resp.status_code == 202, resp.text[:300]
    status = resp.json()
    assert status["success_count"] == 1 and status["failure_count"] == 3
    listing = httpx.get(_objects(server, FINDINGS), headers={**GET, **users.basic(users.reader)})
    assert [o["id"] for o in listing.json()["objects"]] == [indicator(4)["id"]]


def test_bad_content_length_is_400(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    import socket

    host, port = server.base.removeprefix("http://").split(":")
    auth = users.basic(users.writer)["Authorization"]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        path = f"/mlstix/collections/{FINDINGS}/objects/"
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAccept: {TAXII}\r\nContent-Type: {TAXII}\r\n"
            f"Authorization: {auth}\r\nContent-Length: 1\r\n\r\n{{".encode()
        )
        first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 400"), first[:200]


def test_too_many_objects_in_one_envelope_is_413(make_server: Any) -> None:
    server = make_server(max_objects_per_envelope=50)
    users = add_users(server.app)
    resp = httpx.post(
        _objects(server, FINDINGS),
        headers={**POST, **users.basic(users.writer)},
        content=json.dumps({"objects": [{}] * 51}).encode(),
    )
    assert "at most 50" in _is_taxii_error(resp, 413)["description"]
    # Millions of tiny JSON values are refused before parsing (bounded memory).
    tiny = b'{"objects": [' + b"{}," * 5_000 + b"{}]}"
    resp = httpx.post(
        _objects(server, FINDINGS), headers={**POST, **users.basic(users.writer)}, content=tiny
    )
    assert "JSON objects and arrays" in _is_taxii_error(resp, 413)["description"]


def test_status_details_are_capped_and_the_counts_exact(make_server: Any) -> None:
    server = make_server(max_status_details=5)
    users = add_users(server.app)
    objects = [indicator(n) for n in range(12)] + [{"type": "x"}] * 8
    resp = httpx.post(
        _objects(server, FINDINGS),
        headers={**POST, **users.basic(users.writer)},
        content=json.dumps({"objects": objects}).encode(),
    )
    status = resp.json()
    assert status["total_count"] == 20
    assert status["success_count"] == 12 and len(status["successes"]) == 5
    assert status["failure_count"] == 8 and len(status["failures"]) == 5
    again = httpx.get(
        f"{server.root}status/{status['id']}/", headers={**GET, **users.basic(users.writer)}
    ).json()
    assert again == status


def test_pages_are_shortened_to_the_byte_cap_and_continue(make_server: Any) -> None:
    server = make_server(max_page_bytes=3_000)
    users = add_users(server.app)
    objects = [indicator(n, description="d" * 900) for n in range(10)]
    httpx.post(
        _objects(server, FINDINGS),
        headers={**POST, **users.basic(users.writer)},
        content=json.dumps({"objects": objects}).encode(),
    ).raise_for_status()
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 1000}
    auth = users.basic(users.reader)
    for anonymous_cache in (False, True):  # the verified header is cached: the lean path
        seen.clear()
        params = {"limit": 1000}
        for _ in range(20):
            resp = httpx.get(_objects(server, FINDINGS), params=params, headers={**GET, **auth})
            page = resp.json()
            assert len(resp.content) <= 3_000 + 100 or len(page["objects"]) == 1
            assert 1 <= len(page["objects"]) <= 3
            seen += [o["id"] for o in page["objects"]]
            if not page["more"]:
                break
            params["next"] = page["next"]
        assert seen == [o["id"] for o in objects], anonymous_cache
    # One object larger than the cap still comes, alone.
    server2_obj = indicator(99, description="d" * 5_000)
    httpx.post(
        _objects(server, FINDINGS),
        headers={**POST, **users.basic(users.writer)},
        content=json.dumps({"objects": [server2_obj]}).encode(),
    ).raise_for_status()
    params = {"match[id]": server2_obj["id"]}
    page = httpx.get(_objects(server, FINDINGS), params=params, headers={**GET, **auth}).json()
    assert [o["id"] for o in page["objects"]] == [server2_obj["id"]]


def test_old_statuses_are_pruned(make_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlstix.taxii.app import Server

    monkeypatch.setattr(Server, "prune_every", 0.0)
    server = make_server(status_retention_days=1)
    users = add_users(server.app)
    store = server.app.state.server.store
    post = {**POST, **users.basic(users.writer)}
    old = httpx.post(_objects(server, FINDINGS), headers=post, content=b'{"objects": []}').json()
    from sqlalchemy import update

    from mlstix.taxii._schema import statuses

    with store.engine.begin() as conn:
        conn.execute(
            update(statuses)
            .where(statuses.c.id == old["id"])
            .values(request_timestamp=now_us() - 2 * 86_400_000_000)
        )
    new = httpx.post(_objects(server, FINDINGS), headers=post, content=b'{"objects": []}').json()
    assert store.status(old["id"]) is None
    assert store.status(new["id"]) is not None


def test_discovery_uses_the_public_url_never_host(make_server: Any) -> None:
    server = make_server(public_url="https://taxii.example.org/")
    body = httpx.get(f"{server.base}/taxii2/", headers={**GET, "Host": "evil.example"}).json()
    assert body["api_roots"] == ["https://taxii.example.org/mlstix/"]
    plain = make_server()
    body = httpx.get(f"{plain.base}/taxii2/", headers={**GET, "Host": "evil.example"}).json()
    assert body["default"] == f"{plain.base}/mlstix/"
    resp = httpx.get(f"{plain.base}/taxii2", headers={**GET, "Host": "evil.example"})
    assert resp.status_code == 308 and resp.headers["location"] == "/taxii2/"
    assert "evil" not in resp.headers["location"]


def test_api_docs_are_a_setting(make_server: Any) -> None:
    closed = make_server()
    for path in ("/docs", "/openapi.json"):
        _is_taxii_error(httpx.get(f"{closed.base}{path}"), 404)
    opened = make_server(api_docs=True)
    assert httpx.get(f"{opened.base}/openapi.json").json()["openapi"].startswith("3.")


def test_reposting_with_keys_reordered_is_already_stored(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    obj = indicator(7)
    post = {**POST, **users.basic(users.writer)}
    url = _objects(server, FINDINGS)
    first = httpx.post(url, headers=post, content=json.dumps({"objects": [obj]})).json()
    reordered = dict(reversed(list(obj.items())))
    again = httpx.post(url, headers=post, content=json.dumps({"objects": [reordered]})).json()
    assert first["successes"][0]["message"] == "added"
    assert again["success_count"] == 1 and again["successes"][0]["message"] == "already stored"
    changed = httpx.post(
        url, headers=post, content=json.dumps({"objects": [{**obj, "name": "other"}]})
    ).json()
    assert changed["failure_count"] == 1


def test_cursor_of_this_server_round_trips() -> None:
    from mlstix.taxii._query import decode_cursor

    assert decode_cursor(encode_cursor((123, "x--y"))) == (123, "x--y")


def test_lean_path_answers_like_the_app_and_sees_every_commit(
    live: tuple[LiveServer, Users],
) -> None:
    """The first read (password checked) goes through the app; later ones take the lean path
    and its page cache: same bytes, and a POST or DELETE shows at once."""
    server, users = live
    url = _objects(server, FINDINGS)
    post = {**POST, **users.basic(users.writer)}
    read = {**GET, **users.basic(users.reader)}
    httpx.post(url, headers=post, content=json.dumps({"objects": [indicator(1)]}))
    first, second = (httpx.get(url, params={"limit": 5}, headers=read) for _ in range(2))
    assert first.content == second.content
    assert {k: v for k, v in first.headers.items() if k != "date"} == {
        k: v for k, v in second.headers.items() if k != "date"
    }
    httpx.post(url, headers=post, content=json.dumps({"objects": [indicator(2)]}))
    ids = [o["id"] for o in httpx.get(url, params={"limit": 5}, headers=read).json()["objects"]]
    assert ids == [indicator(1)["id"], indicator(2)["id"]]
    httpx.delete(f"{url}{indicator(1)['id']}/", headers=post).raise_for_status()
    ids = [o["id"] for o in httpx.get(url, params={"limit": 5}, headers=read).json()["objects"]]
    assert ids == [indicator(2)["id"]]
