"""The whole TAXII 2.1 round trip driven by the OASIS taxii2-client, against SQLite and (when
MLSTIX_TEST_POSTGRES_URL is set) PostgreSQL: discovery, API root, collections, add objects with
status, paged reads with every filter, manifest, versions, get and delete one object."""

from __future__ import annotations

import pytest
import requests
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages
from taxii_support import (
    FINDINGS,
    IDENTITY,
    KB,
    TAXII,
    LiveServer,
    Users,
    add_users,
    indicator,
    vulnerability,
)


def _collection(live: LiveServer, users: Users, cid: str = FINDINGS) -> Collection:
    return Collection(live.collection_url(cid), user=users.writer[0], password=users.writer[1])


def test_discovery_api_root_and_collections(live: tuple[LiveServer, Users]) -> None:
    server, _users = live
    discovery = Server(f"{server.base}/taxii2/", user="writer", password="w-secret")
    assert discovery.title
    assert [r.url for r in discovery.api_roots] == [server.root]
    assert discovery.default.url == server.root
    root = ApiRoot(server.root, user="writer", password="w-secret")
    assert TAXII in root.versions
    assert root.max_content_length > 0
    titles = {c.title: c for c in root.collections}
    kb = titles["ML Cloud Security Knowledge Base"]
    findings = titles["Findings"]
    assert (kb.id, kb.can_read, kb.can_write) == (KB, True, False)
    assert (findings.id, findings.can_read, findings.can_write) == (FINDINGS, True, True)
    assert "application/stix+json;version=2.1" in findings.media_types


def test_add_objects_reports_each_object_in_the_status(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    coll = _collection(server, users)
    bad_pattern = indicator(99, pattern="[file:name = ")
    no_id = {"type": "indicator", "spec_version": "2.1", "name": "no id"}
    envelope = {"objects": [indicator(1), indicator(2), bad_pattern, no_id, "not an object"]}
    status = coll.add_objects(envelope, poll_interval=0.1)
    assert status.status == "complete"
    assert (status.total_count, status.success_count, status.failure_count) == (5, 2, 3)
    assert {s["id"] for s in status.successes} == {indicator(1)["id"], indicator(2)["id"]}
    failed = {f["id"]: f["message"] for f in status.failures}
    assert "pattern" in failed[bad_pattern["id"]].lower()
    # The status resource can be read again by the one who posted.
    again = ApiRoot(server.root, user="writer", password="w-secret").get_status(status.id)
    assert again.success_count == 2
    # Invalid objects were stored nowhere.
    ids = {o["id"] for o in coll.get_objects()["objects"]}
    assert ids == {indicator(1)["id"], indicator(2)["id"]}


def test_paged_reads_with_filters(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    coll = _collection(server, users)
    coll.add_objects({"objects": [indicator(n) for n in range(12)]}, poll_interval=0.1)
    coll.add_objects({"objects": [vulnerability(n) for n in range(3)]}, poll_interval=0.1)

    pages = list(as_pages(coll.get_objects, per_request=5))
    assert [len(p["objects"]) for p in pages] == [5, 5, 5]
    assert [p["more"] for p in pages] == [True, True, False]
    listed = [o["id"] for p in pages for o in p["objects"]]
    assert listed[:12] == [indicator(n)["id"] for n in range(12)]  # date_added order
    assert len(set(listed)) == 15

    only_vulns = coll.get_objects(type="vulnerability")["objects"]
    assert [o["id"] for o in only_vulns] == [vulnerability(n)["id"] for n in range(3)]
    two = coll.get_objects(id=[indicator(3)["id"], vulnerability(1)["id"]])["objects"]
    assert {o["id"] for o in two} == {indicator(3)["id"], vulnerability(1)["id"]}
    assert coll.get_objects(spec_version="2.0")["objects"] == []
    assert len(coll.get_objects(spec_version="2.1")["objects"]) == 15

    # added_after: strictly after the date_added of the 12th object.
    manifest = coll.get_manifest()["objects"]
    cut = manifest[11]["date_added"]
    after = coll.get_objects(added_after=cut)["objects"]
    assert [o["id"] for o in after] == [vulnerability(n)["id"] for n in range(3)]


def test_date_added_headers_and_strict_order(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    coll = _collection(server, users)
    coll.add_objects({"objects": [indicator(n) for n in range(4)]}, poll_interval=0.1)
    auth = users.basic(users.writer)
    resp = requests.get(
        f"{coll.url}manifest/", headers={"Accept": TAXII, **auth}, params={"limit": 2}
    )
    body = resp.json()
    stamps = [m["date_added"] for m in body["objects"]]
    assert resp.headers["X-TAXII-Date-Added-First"] == stamps[0]
    assert resp.headers["X-TAXII-Date-Added-Last"] == stamps[-1]
    assert body["more"] is True and body["next"]
    full = [m["date_added"] for m in coll.get_manifest()["objects"]]
    assert full == sorted(full) and len(set(full)) == len(full)  # strictly increasing
    assert all(len(s) == len("2026-01-01T00:00:00.000000Z") for s in full)  # microseconds


def test_versions_first_last_all_and_timestamp(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    coll = _collection(server, users)
    stamps = ["2026-02-01T00:00:00.000Z", "2026-02-02T00:00:00.000Z", "2026-02-03T00:00:00.000Z"]
    # Post the middle version last: first/last follow `modified`, not arrival.
    for modified in (stamps[0], stamps[2], stamps[1]):
        coll.add_objects({"objects": [indicator(7, modified=modified)]}, poll_interval=0.1)
    oid = indicator(7)["id"]

    def modified_of(**kw: object) -> list[str]:
        return sorted(o["modified"] for o in coll.get_objects(**kw)["objects"])

    assert modified_of() == [stamps[2]]  # default: last
    assert modified_of(version="first") == [stamps[0]]
    assert modified_of(version="last") == [stamps[2]]
    assert modified_of(version="all") == stamps
    assert modified_of(version=stamps[1]) == [stamps[1]]
    assert modified_of(version=["first", "last"]) == [stamps[0], stamps[2]]
    assert sorted(coll.object_versions(oid)["versions"]) == stamps
    one = coll.get_object(oid)["objects"]
    assert [o["modified"] for o in one] == [stamps[2]]
    everything = coll.get_object(oid, version="all")["objects"]
    assert sorted(o["modified"] for o in everything) == stamps
    manifest = coll.get_manifest(version="all")["objects"]
    assert sorted(m["version"] for m in manifest if m["id"] == oid) == stamps


def test_repost_is_idempotent_and_a_changed_copy_is_refused(
    live: tuple[LiveServer, Users],
) -> None:
    server, users = live
    coll = _collection(server, users)
    obj = indicator(5)
    first = coll.add_objects({"objects": [obj]}, poll_interval=0.1)
    again = coll.add_objects({"objects": [obj]}, poll_interval=0.1)
    assert (first.success_count, again.success_count) == (1, 1)
    assert coll.object_versions(obj["id"])["versions"] == [obj["modified"]]
    changed = dict(obj, name="same id and modified, other content")
    refused = coll.add_objects({"objects": [changed]}, poll_interval=0.1)
    assert refused.failure_count == 1
    assert "already stored" in refused.failures[0]["message"]
    assert coll.get_object(obj["id"])["objects"] == [obj]


def test_delete_one_version_then_the_object(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    coll = _collection(server, users)
    old, new = "2026-02-01T00:00:00.000Z", "2026-02-05T00:00:00.000Z"
    coll.add_objects(
        {"objects": [indicator(8, modified=old), indicator(8, modified=new)]}, poll_interval=0.1
    )
    oid = indicator(8)["id"]
    coll.delete_object(oid, version=new)
    # The older version is now the last one.
    assert [o["modified"] for o in coll.get_object(oid)["objects"]] == [old]
    assert coll.object_versions(oid)["versions"] == [old]
    coll.delete_object(oid)
    with pytest.raises(requests.HTTPError) as err:
        coll.get_object(oid)
    assert err.value.response.status_code == 404
    with pytest.raises(requests.HTTPError) as err:
        coll.delete_object(oid)
    assert err.value.response.status_code == 404


def test_cursor_survives_a_restart(make_server: object) -> None:

    first = make_server()  # type: ignore[operator]
    users = add_users(first.app)
    coll = _collection(first, users)
    coll.add_objects({"objects": [indicator(n) for n in range(6)]}, poll_interval=0.1)
    page = coll.get_objects(limit=4)
    assert page["more"] is True
    # A second server process on the same database continues the listing.
    second = make_server()  # type: ignore[operator]
    rest = _collection(second, users).get_objects(limit=4, next=page["next"])
    assert [o["id"] for o in page["objects"] + rest["objects"]] == [
        indicator(n)["id"] for n in range(6)
    ]
    assert rest["more"] is False


def test_kb_collection_is_served_and_read_only(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    kb = Collection(server.collection_url(KB))  # anonymous
    assert kb.get_objects()["objects"] == [IDENTITY]
    resp = requests.post(
        f"{kb.url}objects/",
        headers={"Accept": TAXII, "Content-Type": TAXII, **users.basic(users.writer)},
        data=b'{"objects": []}',
    )
    assert resp.status_code == 403
    assert resp.json()["title"] == "Forbidden"
    resp = requests.delete(
        f"{kb.url}objects/{IDENTITY['id']}/",
        headers={"Accept": TAXII, **users.basic(users.writer)},
    )
    assert resp.status_code == 403
    assert kb.get_objects()["objects"] == [IDENTITY]


def test_a_tip_walks_every_listing_with_taxii2_client(make_server: object) -> None:
    """What a TIP does: follow `next` through objects, manifest and versions with as_pages,
    resume from added_after with a filter, and read errors as TAXII error resources."""
    server = make_server(max_page_bytes=700)  # type: ignore[operator]
    users = add_users(server.app)
    coll = _collection(server, users)
    newer = "2026-02-05T00:00:00.000Z"
    objects = [indicator(n) for n in range(9)] + [vulnerability(n) for n in range(4)]
    objects += [indicator(n, modified=newer) for n in (2, 5)]
    coll.add_objects({"objects": objects}, poll_interval=0.1)

    def walk(func: object, key: str = "objects", **kw: object) -> list[object]:
        pages = list(as_pages(func, per_request=4, **kw))
        assert all(p["more"] for p in pages[:-1]) and not pages[-1]["more"]
        return [item for p in pages for item in p.get(key, [])]

    # The byte cap shortens pages (taxii2-client then lowers its limit) and `next` goes on.
    listed = walk(coll.get_objects)
    assert len(listed) == 13 and len({o["id"] for o in listed}) == 13
    assert len(walk(coll.get_objects, version="all")) == 15
    manifest = walk(coll.get_manifest, version="all")
    assert [m["date_added"] for m in manifest] == sorted(m["date_added"] for m in manifest)
    assert len(manifest) == 15 and {m["media_type"] for m in manifest} == {
        "application/stix+json;version=2.1"
    }
    versions = walk(coll.object_versions, key="versions", obj_id=indicator(2)["id"])
    assert versions == [indicator(2)["modified"], newer]
    # Resume: what came after the 10th manifest entry, indicators only, page by page.
    cut = manifest[9]["date_added"]
    later = walk(coll.get_objects, added_after=cut, type="indicator", version="all")
    expected = [m["id"] for m in manifest[10:] if m["id"].startswith("indicator--")]
    assert [o["id"] for o in later] == expected and expected

    # Errors: status code, TAXII media type and error resource, whoever answers.
    bad = Collection(coll.url, user="writer", password="wrong")
    with pytest.raises(requests.HTTPError) as err:
        bad.get_objects()
    assert err.value.response.status_code == 401
    for url, headers, status in (
        (f"{server.root}collections/nope/objects/", {"Accept": TAXII}, 404),
        (f"{server.root}collections/{FINDINGS}/objectz/", {"Accept": TAXII}, 404),
        (f"{coll.url}objects/", {"Accept": "application/json"}, 406),
        (f"{coll.url}objects/", {"Accept": "application/taxii+json;version=2.0"}, 406),
        (f"{coll.url}objects/", {"Accept": TAXII, **users.basic(("writer", "wrong"))}, 401),
        (f"{coll.url}objects/", {"Accept": TAXII, "Authorization": "Bearer mlstix.a.b"}, 401),
        (f"{coll.url}objects/?limit=0", {"Accept": TAXII, **users.basic(users.writer)}, 400),
        (f"{coll.url}manifest/?next=abc", {"Accept": TAXII, **users.basic(users.writer)}, 400),
    ):
        resp = requests.get(url, headers=headers)
        assert resp.status_code == status, (url, headers, resp.text)
        assert resp.headers["Content-Type"] == TAXII
        assert resp.json()["http_status"] == str(status) and resp.json()["title"]
    resp = requests.put(f"{coll.url}objects/", headers={"Accept": TAXII})
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET, HEAD, POST"


def test_head_is_get_without_the_body(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    coll = _collection(server, users)
    coll.add_objects({"objects": [indicator(n) for n in range(3)]}, poll_interval=0.1)
    headers = {"Accept": TAXII, **users.basic(users.reader)}
    for url in (
        f"{server.base}/taxii2/",
        f"{coll.url}objects/?limit=2",  # the app, then (credentials verified) the lean path
        f"{coll.url}objects/?limit=2",
        f"{coll.url}manifest/",
        f"{coll.url}objects/{indicator(1)['id']}/versions/",
        f"{server.root}collections/nope/objects/",
    ):
        get = requests.get(url, headers=headers)
        head = requests.head(url, headers=headers)
        assert head.status_code == get.status_code, url
        assert head.content == b""
        assert head.headers["Content-Length"] == str(len(get.content)), url
        assert head.headers["Content-Type"] == get.headers["Content-Type"] == TAXII
