"""Hostile input found by fuzzing (issue 11 §2): hypothesis draws query parameters (non-ASCII
digits, huge numbers, cursors of every JSON shape, lone surrogates) and STIX objects with any JSON
in any property; the server answers each with 200/202, 400 or 413 and a TAXII body, never 500,
and what it lists stays valid JSON."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from taxii_support import FINDINGS, KB, TAXII, LiveServer, add_users, indicator

from mlstix.taxii._query import ALL_FILTERS

POST = {"Accept": TAXII, "Content-Type": TAXII}
GET = {"Accept": TAXII}


def _objects(server: LiveServer, cid: str = KB) -> str:
    return f"{server.collection_url(cid)}objects/"


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    params=st.dictionaries(
        st.sampled_from(sorted(ALL_FILTERS)),
        st.one_of(
            st.text(max_size=60),
            st.from_regex(r"[0-9]{1,30}", fullmatch=True),
            st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode()),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                lambda inner: st.lists(inner, max_size=4),
                max_leaves=8,
            ).map(lambda v: _cursor(json.dumps(v).encode())),
        ),
        max_size=4,
    )
)
def test_fuzzed_queries_never_cause_a_server_error(fuzz_server: LiveServer, params: Any) -> None:
    for url in (
        _objects(fuzz_server),
        f"{fuzz_server.collection_url(KB)}manifest/",
        f"{_objects(fuzz_server)}identity--0b2c1d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d/versions/",
    ):
        resp = httpx.get(url, params=params, headers=GET)
        assert resp.status_code in (200, 400, 404), (params, resp.status_code, resp.text[:300])
        assert resp.headers["content-type"] == TAXII
        resp.json()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from taxii_support import IDENTITY

    from mlstix.taxii.app import create_app
    from mlstix.taxii.config import ServerConfig

    db = tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite3"
    app = create_app(ServerConfig(db=f"sqlite:///{db}"), kb_loader=lambda: [dict(IDENTITY)])
    with LiveServer(app) as server:
        yield server
    app.state.server.store.close()


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(st.characters(codec=None), max_size=12),  # lone surrogates included
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(st.characters(codec=None), max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


_FUZZED_KEYS = [
    "id",
    "type",
    "created",
    "modified",
    "confidence",
    "labels",
    "pattern",
    "valid_from",
    "created_by_ref",
    "external_references",
    "x_custom",
    "ab",
    "spec_version",
    "lang",
]


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    key=st.sampled_from(_FUZZED_KEYS),
    value=_JSON,
)
def test_fuzzed_objects_never_cause_a_server_error(
    fuzz_writer: tuple[LiveServer, dict[str, str]], key: str, value: Any
) -> None:
    server, auth = fuzz_writer
    obj = {**indicator(5), key: value}
    body = json.dumps({"objects": [obj]})  # ensure_ascii: surrogates travel as \\ud800 escapes
    resp = httpx.post(_objects(server, FINDINGS), headers={**POST, **auth}, content=body)
    assert resp.status_code in (202, 400, 413), (key, value, resp.status_code, resp.text[:300])
    assert resp.headers["content-type"] == TAXII
    status = resp.json()
    if resp.status_code == 202:
        assert status["success_count"] + status["failure_count"] == 1
    listing = httpx.get(
        _objects(server, FINDINGS), params={"match[version]": "all"}, headers={**GET, **auth}
    )
    assert listing.status_code == 200
    listing.json()


@pytest.fixture(scope="module")
def fuzz_writer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from taxii_support import IDENTITY

    from mlstix.taxii.app import create_app
    from mlstix.taxii.config import ServerConfig

    db = tmp_path_factory.mktemp("fuzzpost") / "fuzz.sqlite3"
    app = create_app(ServerConfig(db=f"sqlite:///{db}"), kb_loader=lambda: [dict(IDENTITY)])
    users = add_users(app)
    with LiveServer(app) as server:
        yield server, users.basic(users.writer)
    app.state.server.store.close()
