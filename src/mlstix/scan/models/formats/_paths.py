"""Archive members that leave the folder they are extracted into.

Loaders extract model archives before they read them: NeMo unpacks a ``.nemo`` tar, SageMaker
hosting untars ``model.tar.gz`` into ``/opt/ml/model``, ``keras.utils.get_file(extract=True)``
and ``torch.hub`` unpack downloads. Python's ``tarfile.extractall`` without a filter (the
default before 3.14) and ``zipfile``-based extractors that do not sanitise names write a member
named ``../../site-packages/x.pth`` or ``/etc/cron.d/x`` where it says, follow a symlink member
that points outside, and hard-link to any file: a file written there (a ``.pth`` file, a shell
start-up file) runs code later. A member path is judged as POSIX and Windows extractors read
it (``/``, ``\\``, drive letters); a link target relative to its member's folder.

Reference: CPython ``tarfile`` extraction filters (PEP 706: ``data_filter`` refuses absolute
names, ``..`` outside the destination, and links that leave it), CVE-2007-4559.
"""

from __future__ import annotations

import posixpath

__all__ = ["escapes", "link_escapes", "member_key", "through_link"]


def _norm(name: str) -> str:
    return name.replace("\\", "/")


def member_key(name: str) -> str:
    """A member path as extraction resolves it inside the destination."""
    return posixpath.normpath(_norm(name)).strip("/")


def escapes(name: str) -> bool:
    """Whether extracting ``name`` writes outside the destination folder."""
    n = _norm(name)
    if n.startswith("/") or (len(n) > 1 and n[1] == ":") or "\x00" in n:
        return True
    norm = posixpath.normpath(n)
    return norm == ".." or norm.startswith("../")


def link_escapes(name: str, target: str, hard: bool = False) -> bool:
    """Whether a link member ``name`` -> ``target`` points outside the destination (a hard
    link's target is relative to the destination, a symlink's to the member's folder)."""
    t = _norm(target)
    if t.startswith("/") or (len(t) > 1 and t[1] == ":"):
        return True
    base = "" if hard else posixpath.dirname(_norm(name))
    norm = posixpath.normpath(posixpath.join(base, t)) if t else "."
    return norm == ".." or norm.startswith("../")


def through_link(name: str, links: set[str]) -> str | None:
    """The symlink member (a folder an earlier member made a link) that ``name`` is written
    through, if any: extraction follows it."""
    parts = member_key(name).split("/")
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        if prefix in links:
            return prefix
    return None
