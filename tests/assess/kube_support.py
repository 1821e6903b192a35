"""A replayed Kubernetes API server: list endpoints over given objects, as the API serves them.

Paths follow the API conventions (``/api/v1/{plural}``, ``/api/v1/namespaces/{ns}/{plural}``,
``/apis/{group}/{version}/...``); list bodies are ``{Kind}List`` objects whose built-in items omit
``kind``/``apiVersion`` as the API server does; pages are cut at two items with a ``continue``
token; custom resources with no objects of the requested version answer 404 (their CRD is not
installed, or not at that version: Kubeflow before 1.7 serves Notebook at v1beta1); requests
without the bearer token answer 401. Every request is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from mlstix.assess.kubernetes import _OLDER, KINDS
from tests.assess.http_support import QuietJsonHandler, serving

TOKEN = "replay-token-7d1e"  # the kubeconfig's bearer token; must never leak


class Replay:
    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.requests: list[tuple[str, str]] = []
        self.forbidden: set[str] = set()  # plurals answering 403
        self.page = 2


def _route(path: str) -> tuple[str, str, str | None] | None:
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "v1"]:
        gv, rest = "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    if len(rest) == 3 and rest[0] == "namespaces":
        return gv, rest[2], rest[1]
    if len(rest) == 1:
        return gv, rest[0], None
    return None


def _handler(replay: Replay) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietJsonHandler):
        def _status(self, code: int, reason: str) -> None:
            self._send(
                code,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": reason,
                    "reason": reason,
                    "code": code,
                },
            )

        def _any(self) -> None:
            self.requests_done = True
            replay.requests.append((self.command, self.path))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._status(401, "Unauthorized")
                return
            if self.command != "GET":
                self._status(405, "MethodNotAllowed")
                return
            url = urlparse(self.path)
            if url.path == "/api":
                self._send(200, {"kind": "APIVersions", "versions": ["v1"]})
                return
            route = _route(url.path)
            row = next(
                (
                    k
                    for k in KINDS
                    if route and k[1] == route[1] and route[0] in (k[0], *_OLDER.get(k[0], ()))
                ),
                None,
            )
            if route is None or row is None:
                self._status(404, "NotFound")
                return
            gv, plural, ns = route
            if plural in replay.forbidden:
                self._status(403, "Forbidden")
                return
            kind, custom = row[2], row[4]
            items = [
                o
                for o in replay.objects
                if o["kind"] == kind
                and o["apiVersion"] == gv
                and (ns is None or (o.get("metadata") or {}).get("namespace") == ns)
            ]
            served = any(o["kind"] == kind and o["apiVersion"] == gv for o in replay.objects)
            if custom and not served:
                self._status(404, "NotFound")
                return
            query = parse_qs(url.query)
            start = int((query.get("continue") or ["0"])[0])
            page = items[start : start + replay.page]
            more = start + replay.page < len(items)
            body_items = []
            for o in page:
                o = dict(o)
                if not custom:
                    o.pop("kind"), o.pop("apiVersion")
                body_items.append(o)
            meta: dict[str, Any] = {"resourceVersion": "4242"}
            if more:
                meta["continue"] = str(start + replay.page)
            self._send(
                200,
                {"kind": f"{kind}List", "apiVersion": gv, "metadata": meta, "items": body_items},
            )

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

    return Handler


@contextmanager
def replay_server(objects: list[dict[str, Any]]) -> Iterator[tuple[str, Replay]]:
    replay = Replay(objects)
    with serving(_handler(replay)) as url:
        yield url, replay


def kubeconfig(path: Path, server: str, token: str = TOKEN) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "replay", "cluster": {"server": server}}],
        "users": [{"name": "auditor", "user": {"token": token}}],
        "contexts": [{"name": "replay", "context": {"cluster": "replay", "user": "auditor"}}],
        "current-context": "replay",
    }
    path.write_text(json.dumps(doc))
    return path
