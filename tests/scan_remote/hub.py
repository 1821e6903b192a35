"""A minimal Hugging Face Hub on loopback for ``HfFileSystem`` (``HF_ENDPOINT``): the model
info, tree, paths-info and resolve endpoints, in the shapes the Hub's API answers (see the
``huggingface_hub`` client: ``HfApi.repo_info``, ``list_repo_tree``, ``get_paths_info``,
``hf_hub_url``), with ``Range`` requests on resolve."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Repo:
    files: dict[str, bytes]
    sha: str = "0123456789abcdef0123456789abcdef01234567"
    requests: list[str] = field(default_factory=list)
    history: dict[str, dict[str, bytes]] = field(default_factory=dict)  # older commits by sha
    token: str | None = None  # a private repository: only this bearer token sees it

    def commit(self, files: dict[str, bytes]) -> str:
        """A new commit on the default branch changing ``files``; older ones stay readable."""
        self.history[self.sha] = dict(self.files)
        self.files = {**self.files, **files}
        self.sha = hashlib.sha1(repr(sorted(self.files.items())).encode()).hexdigest()
        return self.sha

    def at(self, revision: str) -> tuple[str, dict[str, bytes]]:
        """The commit and files a revision names (a commit sha, else the default branch)."""
        if revision in self.history:
            return revision, self.history[revision]
        return self.sha, self.files


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _entry(path: str, data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "file", "oid": _git_oid(data), "size": len(data), "path": path}
    if len(data) > 1024:  # stored in LFS: the pointer's oid is the content's SHA-256
        out["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                      "pointerSize": 134}  # fmt: skip
    return out


def _entries(files: dict[str, bytes], prefix: str, recursive: bool) -> list[dict[str, Any]]:
    prefix = prefix.strip("/")
    out: list[dict[str, Any]] = []
    dirs: set[str] = set()
    for path, data in sorted(files.items()):
        if prefix and not path.startswith(prefix + "/"):
            continue
        rest = path[len(prefix) + 1 :] if prefix else path
        if "/" in rest and not recursive:
            dirs.add((prefix + "/" if prefix else "") + rest.split("/", 1)[0])
            continue
        if recursive:
            parts = rest.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add((prefix + "/" if prefix else "") + "/".join(parts[:i]))
        out.append(_entry(path, data))
    out += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)]
    return out


def _handler(repos: dict[str, Repo]) -> type[BaseHTTPRequestHandler]:
    class Hub(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, value: object, status: int = 200) -> None:
            self._send(status, json.dumps(value).encode(), {"Content-Type": "application/json"})

        def _missing(self, what: str) -> None:
            # the Hub: an unknown (or private) repository is 401 to an anonymous caller
            anonymous = "Authorization" not in self.headers
            status = 401 if anonymous and what == "Repository not found" else 404
            self._send(status, json.dumps({"error": what}).encode(),
                       {"Content-Type": "application/json", "X-Error-Code": "RepoNotFound",
                        "X-Error-Message": what})  # fmt: skip

        def _repo(self, repo_id: str) -> Repo | None:
            repo = repos.get(repo_id)
            token = repo.token if repo is not None else None
            if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
                return None  # as the Hub answers for a private repository: not found
            if repo is not None:
                repo.requests.append(f"{self.command} {self.path} {self.headers.get('Range')}")
            return repo

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            query = parse_qs(url.query)
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
            if m:
                repo = self._repo(m.group(1))
                if repo is None:
                    return self._missing("Repository not found")
                sha, files = repo.at(m.group(2) or "")
                siblings = [{"rfilename": p} for p in sorted(files)]
                return self._json({"id": m.group(1), "sha": sha, "siblings": siblings,
                                   "private": False})  # fmt: skip
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)/?(.*)", path)
            if m:
                repo = self._repo(m.group(1))
                if repo is None:
                    return self._missing("Repository not found")
                recursive = query.get("recursive", ["false"])[0].lower() == "true"
                return self._json(_entries(repo.at(m.group(2))[1], m.group(3), recursive))
            m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if m:
                repo = self._repo(m.group(1))
                sha, files = repo.at(m.group(2)) if repo else ("", {})
                data = files.get(m.group(3))
                if repo is None or data is None:
                    return self._missing("Entry not found")
                headers = {"ETag": f'"{_git_oid(data)}"', "X-Repo-Commit": sha,
                           "Accept-Ranges": "bytes"}  # fmt: skip
                if "lfs" in _entry(m.group(3), data):  # as the Hub answers for LFS files
                    headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
                    headers["X-Linked-Size"] = str(len(data))
                rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
                if rng:
                    start = int(rng.group(1))
                    end = int(rng.group(2)) + 1 if rng.group(2) else len(data)
                    part = data[start:end]
                    headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{len(data)}"
                    return self._send(206, part, headers)
                return self._send(200, data, headers)
            return self._missing("Not found")

        def do_POST(self) -> None:
            path = unquote(urlsplit(self.path).path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/paths-info/([^/]+)", path)
            repo = self._repo(m.group(1)) if m else None
            if repo is None:
                return self._missing("Repository not found")
            if "json" in (self.headers.get("Content-Type") or ""):
                wanted = json.loads(body).get("paths", [])
            else:
                wanted = parse_qs(body).get("paths", [])
            out: list[dict[str, Any]] = []
            files = repo.at(m.group(2) if m else "")[1]
            for p in wanted:
                p = p.strip("/")
                if p in files:
                    out.append(_entry(p, files[p]))
                elif any(f.startswith(p + "/") for f in files) or p == "":
                    out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": p})
            return self._json(out)

    return Hub


@contextlib.contextmanager
def hub(repos: dict[str, Repo]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(repos))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
