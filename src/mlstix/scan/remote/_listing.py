"""Listing a remote location into the objects to scan, each with its identity: what changes
when its content changes (S3 ``VersionId`` or ``ETag``, Cloud Storage ``generation``, Azure
``etag``, the Hub's LFS SHA-256 or git blob id), which the incremental state compares.

A location is listed in two steps so that a cluster can share the work: :func:`split` reads
one level (the objects directly under it and its sub-prefixes) and :func:`list_under` lists a
sub-prefix to the bottom. The local executor runs both in threads; the Ray executor runs each
sub-prefix as a task.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlstix.errors import UsageError
from mlstix.scan.remote._fs import (
    Location,
    RemoteError,
    describe_failure,
    endpoint_of,
    filesystem,
    settings_of,
)
from mlstix.scan.remote._pin import listed_version

if TYPE_CHECKING:
    from mlstix.scan.remote._background import Agent

__all__ = [
    "RemoteObject",
    "keep",
    "list_location",
    "list_paths",
    "list_under",
    "relative",
    "split",
    "start_agent",
]


@dataclass(frozen=True)
class RemoteObject:
    url: str  # shown in reports: scheme://bucket/key
    root: str  # the user's location (scheme://...), which says how to open the store
    path: str  # the object's path as its filesystem names it
    size: int
    identity: str  # changes whenever the content does
    version: str = ""  # the listed version every read names (ETag, generation; see _pin)

    @property
    def location(self) -> Location:
        from mlstix.scan.remote._fs import parse

        return parse(self.root)


def _identity(info: dict[str, Any]) -> str:
    etag = str(info.get("ETag") or "").strip('"')
    if etag and not info.get("VersionId"):
        # S3 without versioning: the ETag of a single-part upload is the MD5 of the content,
        # and MD5 collisions are cheap to make; the modification time, which only S3 sets,
        # changes on every upload, so an object swapped for a colliding one is scanned again
        return f"{info.get('size', 0)}:{etag}:{info.get('LastModified') or '?'}"
    lfs = info.get("lfs")
    for value in (
        info.get("VersionId"),  # S3, version-aware buckets
        info.get("generation"),  # Cloud Storage
        lfs.get("sha256") if isinstance(lfs, dict) else None,  # the Hub, LFS files
        info.get("blob_id"),  # the Hub, git blob
        info.get("ETag"),  # S3
        info.get("etag"),  # Azure Blob, Cloud Storage
        info.get("md5Hash"),
        info.get("LastModified") or info.get("last_modified") or info.get("created"),
    ):
        if value not in (None, ""):
            return f"{info.get('size', 0)}:{str(value).strip(chr(34))}"
    return f"{info.get('size', 0)}:?"


def _obj(loc: Location, info: dict[str, Any]) -> RemoteObject:
    name = str(info["name"]).lstrip("/")
    size = int(info.get("size") or 0)
    version = listed_version(loc.protocol, info)
    return RemoteObject(loc.url_of(name), loc.url, name, size, _identity(info), version)


def _fail(loc: Location, what: str, exc: BaseException) -> RemoteError:
    return RemoteError(
        f"{loc.url}: cannot {what}: {describe_failure(exc, endpoint_of(loc.scheme))}",
        hint=f"check the location, the network and {settings_of(loc.scheme)}",
    )


def split(loc: Location) -> tuple[list[RemoteObject], list[str]]:
    """The objects directly at ``loc`` and its sub-prefixes (paths). A location that is one
    object gives that object. Raises :class:`RemoteError` when it cannot be listed, and
    :class:`UsageError` when nothing is there."""
    fs = filesystem(loc)
    fs.invalidate_cache()  # a listing is always fresh: a rescan must see every change
    try:
        entries = fs.ls(loc.path, detail=True)
    except FileNotFoundError:
        entries = []
    except Exception as exc:  # the SDKs' own errors: credentials, endpoint, permission
        raise _fail(loc, "list", exc) from None
    if not entries:
        try:
            info = fs.info(loc.path)
        except FileNotFoundError:
            raise UsageError(  # stores answer so for what the credentials may not see, too
                f"{loc.url}: no such object or prefix",
                hint=f"check the location; a private one needs {settings_of(loc.scheme)}",
            ) from None
        except Exception as exc:
            raise _fail(loc, "read", exc) from None
        if info.get("type") == "file":
            return [_obj(loc, info)], []
        raise UsageError(f"nothing to scan: no objects under {loc.url}")
    files: list[RemoteObject] = []
    dirs: list[str] = []
    own = loc.path.strip("/")
    for e in entries:
        name = str(e["name"]).strip("/")
        if e.get("type") == "directory":
            if name != own:
                dirs.append(name)
        elif e.get("type") == "file":
            files.append(_obj(loc, e))
    if len(files) == 1 and not dirs and files[0].path.strip("/") == own:
        return files, []  # the location is an object (some stores list it as itself)
    return files, sorted(dirs)


def list_under(root: str, prefix: str) -> list[RemoteObject]:
    """Every object below ``prefix`` (a path from :func:`split`) of the location ``root``."""
    from mlstix.scan.remote._fs import parse

    loc = parse(root)
    fs = filesystem(loc)
    try:
        fs.invalidate_cache(prefix)  # hf:// resolves the repository here: a network call
        found = fs.find(prefix, detail=True)
    except FileNotFoundError:
        return []
    except Exception as exc:
        what = "list" if prefix.strip("/") == loc.path.strip("/") else f"list {prefix}"
        raise _fail(loc, what, exc) from None
    return [_obj(loc, info) for info in found.values() if info.get("type", "file") == "file"]


def list_location(loc: Location) -> list[RemoteObject]:
    """Every object of ``loc``: one flat listing (S3 ListObjectsV2 without a delimiter, 1,000
    keys a page; the Hub's recursive tree), or, for a location that is one object, that object
    (sub-prefixes listed in threads where the store lists only one level)."""
    objs = list_under(loc.url, loc.path)
    if objs:
        return objs
    files, prefixes = split(loc)  # one object, or nothing there (a clear error)
    if prefixes:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(prefixes))) as pool:
            for batch in pool.map(functools.partial(list_under, loc.url), prefixes):
                files.extend(batch)
    return files


def list_paths(paths: list[str], *, lean: bool = False) -> list[list[RemoteObject]]:
    """The objects of each location in ``paths``, in order; ``lean``: in a process of its own
    (the agent), with :func:`._fs.lean_imports`."""
    from mlstix.scan.remote._fs import lean_imports, parse

    if lean:
        lean_imports()
    return [list_location(parse(p)) for p in paths]


def start_agent(paths: list[str]) -> Agent[list[list[RemoteObject]]]:
    """The agent of a local scan of ``paths`` (see :mod:`._background`), forked now: give it
    to :func:`~._scan.scan_remote` (``agent=``) with the same paths, or ``cancel()`` it.
    Forked before the caller imports the scanner, it lists while the caller gets ready."""
    from mlstix.scan.remote._background import Agent

    return Agent(functools.partial(list_paths, list(paths), lean=True))


def relative(obj: RemoteObject) -> str:
    """The object's path relative to its location (what ``--exclude`` globs match)."""
    base = obj.root.split("://", 1)[1].strip("/")
    rel = posixpath.relpath(obj.path.strip("/"), base) if obj.path.strip("/") != base else ""
    return rel if rel not in ("", ".") else posixpath.basename(obj.path)


def keep(objs: list[RemoteObject], ignored: Callable[[str], bool]) -> list[RemoteObject]:
    return [o for o in objs if not ignored(relative(o))]
