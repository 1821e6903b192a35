"""Guard the STIX versioning contract against the last release.

A STIX consumer (a TIP, a TAXII client, OpenCTI, MISP) keeps one version of an object per
``(id, modified)`` (STIX 2.1 §3.6): an object whose content changed under the ``modified`` a
consumer already holds is taken for the copy it has, and the change never reaches it. Authors
bump ``modified`` by hand, so a build compares every compiled object with ``released.json`` in
the data folder: per object id, the ``modified`` and a digest of the content (everything but
``modified``) as last published. An object whose content differs from the release while its
``modified`` is not later is an error naming the object and its source file, as is an object
older than its release. A data folder without ``released.json`` (an author's fresh copy) is not
checked. ``mlstix kb build --record-release LABEL`` rewrites the file after a release.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from mlstix.errors import KbDataError

__all__ = ["FILE_NAME", "check_release", "read_release", "release_document"]

FILE_NAME = "released.json"
_FORMAT = 1


def _digest(obj: Mapping[str, Any]) -> str:
    body = {k: v for k, v in obj.items() if k != "modified"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _versioned(objects: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The objects a consumer versions by ``modified`` (marking definitions have none)."""
    return {o["id"]: o for o in objects if "modified" in o}


def _instant(stamp: str) -> datetime:
    try:
        instant = datetime.fromisoformat(stamp)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:  # a naive time cannot be compared with UTC
        raise KbDataError([f"{FILE_NAME}: not a STIX timestamp: {stamp!r}"])
    return instant


def release_document(label: str, objects: Iterable[Mapping[str, Any]]) -> str:
    """The text of ``released.json`` for these compiled objects."""
    versioned = _versioned(objects)
    entries = {
        oid: {"modified": obj["modified"], "digest": _digest(obj)}
        for oid, obj in sorted(versioned.items())
    }
    document = {"format": _FORMAT, "release": label, "objects": entries}
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def read_release(folder: Path) -> dict[str, Any] | None:
    """``folder/released.json``, or None when the folder has none."""
    path = folder / FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise KbDataError([f"{FILE_NAME}: cannot read: {exc}"]) from None
    try:
        document = json.loads(text)
        ok = document.get("format") == _FORMAT and isinstance(document.get("objects"), dict)
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        raise KbDataError(
            [
                f"{FILE_NAME}: not a release record of format {_FORMAT} (rewrite it with "
                "`mlstix kb build --record-release LABEL`)"
            ]
        )
    release: dict[str, Any] = document
    return release


def check_release(
    release: Mapping[str, Any],
    objects: Iterable[Mapping[str, Any]],
    sources: Mapping[str, str],
) -> list[str]:
    """Problems: objects changed since ``release`` without a later ``modified``.

    ``sources`` maps an object id to the authored file that sets its ``modified`` (the message
    names it); ids not in it are derived objects whose source is named generically.
    """
    label = release.get("release", "the last release")
    entries: Mapping[str, Any] = release["objects"]
    problems = []
    for oid, obj in sorted(_versioned(objects).items()):
        entry = entries.get(oid)
        if not isinstance(entry, dict):
            continue  # new since the release
        where = sources.get(oid, "its source")
        published = str(entry.get("modified", ""))
        current = str(obj["modified"])
        if _instant(current) < _instant(published):
            problems.append(
                f"{where}: {oid}: modified {current} is earlier than in release {label} "
                f"({published})"
            )
        elif current == published and entry.get("digest") != _digest(obj):
            problems.append(
                f"{where}: {oid}: content changed since release {label} but modified is still "
                f"{current}: set a later modified"
            )
    return problems
