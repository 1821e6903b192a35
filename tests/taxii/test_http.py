"""The HTTP surface of TAXII 2.1 beyond the happy path: content negotiation (406, 415), the
error message resource, authentication (401, 403), request size (413), malformed queries and
bodies (400), and who may read a status resource."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from taxii_support import FINDINGS, KB, TAXII, LiveServer, Users, indicator

POST = {"Accept": TAXII, "Content-Type": TAXII}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The HTTP layer does not depend on the database: SQLite only here."""
    return f"sqlite:///{tmp_path / 'taxii.sqlite3'}"


def _objects_url(server: LiveServer, cid: str = FINDINGS) -> str:
    return f"{server.collection_url(cid)}objects/"


@pytest.mark.parametrize(
    "accept", ["application/json", "text/html", "application/taxii+json;version=2.0"]
)
def test_wrong_accept_is_406_with_an_error_resource(
    live: tuple[LiveServer, Users], accept: str
) -> None:
    server, users = live
    resp = httpx.get(_objects_url(server), headers={"Accept": accept, **users.basic(users.reader)})
    assert resp.status_code == 406
    assert resp.headers["content-type"] == TAXII
    body = resp.json()
    assert body["title"] == "Not Acceptable" and body["http_status"] == "406"
    assert accept in body["description"]


@pytest.mark.parametrize(
    "accept", [TAXII, "application/taxii+json", "*/*", "text/html, application/taxii+json"]
)
def test_acceptable_accept_values(live: tuple[LiveServer, Users], accept: str) -> None:
    server, users = live
    resp = httpx.get(_objects_url(server), headers={"Accept": accept, **users.basic(users.reader)})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == TAXII


@pytest.mark.parametrize("ctype", ["application/json", "application/stix+json;version=2.1", ""])
def test_wrong_content_type_is_415(live: tuple[LiveServer, Users], ctype: str) -> None:
    server, users = live
    headers = {"Accept": TAXII, **users.basic(users.writer)}
    if ctype:
        headers["Content-Type"] = ctype
    resp = httpx.post(_objects_url(server), headers=headers, content=b'{"objects": []}')
    assert resp.status_code == 415
    assert resp.json()["title"] == "Unsupported Media Type"


def test_body_larger_than_the_limit_is_413_and_nothing_is_stored(
    make_server: object,
) -> None:
    from taxii_support import add_users

    server = make_server(max_content_length=2_000)  # type: ignore[operator]
    users = add_users(server.app)
    body = json.dumps({"objects": [indicator(n) for n in range(20)]}).encode()
    assert len(body) > 2_000
    resp = httpx.post(
        _objects_url(server), headers={**POST, **users.basic(users.writer)}, content=body
    )
    assert resp.status_code == 413
    # Chunked upload with no Content-Length is bounded as well.
    resp = httpx.post(
        _objects_url(server),
        headers={**POST, **users.basic(users.writer)},
        content=iter([body[:1000], body[1000:]]),
    )
    assert resp.status_code == 413
    listing = httpx.get(
        _objects_url(server), headers={"Accept": TAXII, **users.basic(users.reader)}
    ).json()
    assert listing["objects"] == []
    root = httpx.get(server.root, headers={"Accept": TAXII}).json()
    assert root["max_content_length"] == 2_000


@pytest.mark.parametrize(
    ("body", "needle"),
    [(b"{not json", "not JSON"), (b'{"objects": {}}', "envelope"), (b"[1, 2]", "envelope")],
)
def test_malformed_envelope_is_400(
    live: tuple[LiveServer, Users], body: bytes, needle: str
) -> None:
    server, users = live
    resp = httpx.post(
        _objects_url(server), headers={**POST, **users.basic(users.writer)}, content=body
    )
    assert resp.status_code == 400
    assert needle in resp.json()["description"]


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("added_after=yesterday", "added_after"),
        ("match[version]=newest", "match[version]"),
        ("match[spec_version]=3.0", "match[spec_version]"),
        ("next=%21%21garbage", "next"),
    ],
)
def test_malformed_filters_are_400_naming_the_parameter(
    live: tuple[LiveServer, Users], query: str, needle: str
) -> None:
    server, users = live
    resp = httpx.get(
        f"{_objects_url(server)}?{query}", headers={"Accept": TAXII, **users.basic(users.reader)}
    )
    assert resp.status_code == 400
    assert resp.json()["description"].startswith(needle)


def test_limit_above_the_page_size_is_lowered(make_server: object) -> None:
    from taxii_support import add_users

    server = make_server(max_page_size=3)  # type: ignore[operator]
    users = add_users(server.app)
    httpx.post(
        _objects_url(server),
        headers={**POST, **users.basic(users.writer)},
        content=json.dumps({"objects": [indicator(n) for n in range(5)]}),
    )
    page = httpx.get(
        f"{_objects_url(server)}?limit=1000",
        headers={"Accept": TAXII, **users.basic(users.reader)},
    ).json()
    assert len(page["objects"]) == 3 and page["more"] is True


def test_authentication_and_permissions(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    url = _objects_url(server)
    get = {"Accept": TAXII}
    # Anonymous: the KB yes (the default setting), the findings no.
    assert httpx.get(_objects_url(server, KB), headers=get).status_code == 200
    anon = httpx.get(url, headers=get)
    assert anon.status_code == 401 and "Basic" in anon.headers["www-authenticate"]
    # A wrong password is 401 even where anonymous reads are allowed.
    wrong = users.basic(("reader", "nope"))
    assert httpx.get(_objects_url(server, KB), headers={**get, **wrong}).status_code == 401
    assert httpx.get(url, headers={**get, **users.basic(("ghost", "x"))}).status_code == 401
    # The reader reads but may not write.
    assert httpx.get(url, headers={**get, **users.basic(users.reader)}).status_code == 200
    denied = httpx.post(url, headers={**POST, **users.basic(users.reader)}, content=b"{}")
    assert denied.status_code == 403 and "reader" in denied.json()["description"]
    # The API key works as Bearer and as taxii2-client's "Token".
    for scheme in ("Bearer", "Token"):
        auth = {"Authorization": f"{scheme} {users.api_key}"}
        resp = httpx.post(
            url, headers={**POST, **auth}, content=json.dumps({"objects": [indicator(1)]})
        )
        assert resp.status_code == 202, resp.text
    forged = users.api_key[:-4] + "AAAA"
    resp = httpx.get(url, headers={**get, "Authorization": f"Bearer {forged}"})
    assert resp.status_code == 401
    # Collections the user may not see are not listed.
    listing = httpx.get(f"{server.root}collections/", headers=get).json()["collections"]
    assert [c["id"] for c in listing] == [KB]
    assert httpx.get(f"{server.root}collections/nope/objects/", headers=get).status_code == 404


def test_status_is_visible_to_its_owner_and_writers_only(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    resp = httpx.post(
        _objects_url(server),
        headers={**POST, **users.basic(users.writer)},
        content=json.dumps({"objects": [indicator(1)]}),
    )
    assert resp.status_code == 202
    status_url = f"{server.root}status/{resp.json()['id']}/"
    own = httpx.get(status_url, headers={"Accept": TAXII, **users.basic(users.writer)})
    assert own.status_code == 200 and own.json()["success_count"] == 1
    for headers in ({}, users.basic(users.reader)):
        other = httpx.get(status_url, headers={"Accept": TAXII, **headers})
        assert other.status_code == 404


def test_anonymous_kb_read_can_be_switched_off(make_server: object) -> None:
    server = make_server(anonymous_kb_read=False)  # type: ignore[operator]
    resp = httpx.get(_objects_url(server, KB), headers={"Accept": TAXII})
    assert resp.status_code == 401
    assert httpx.get(f"{server.root}collections/", headers={"Accept": TAXII}).json() == {
        "collections": []
    }


def test_unknown_path_and_method_use_the_error_resource(live: tuple[LiveServer, Users]) -> None:
    server, _ = live
    resp = httpx.get(f"{server.root}nothing/here/", headers={"Accept": TAXII})
    assert resp.status_code == 404 and resp.json()["http_status"] == "404"
    resp = httpx.put(f"{server.root}collections/", headers={"Accept": TAXII})
    assert resp.status_code == 405 and resp.headers["content-type"] == TAXII
