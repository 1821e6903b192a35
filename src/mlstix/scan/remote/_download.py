"""A local copy of a remote model, for what must read every byte: signature verification and
the ML-BOM hash each file in full (``mlstix verify s3://...``, ``mlstix bom hf://...``).

The objects under the location are fetched into a temporary folder that is removed afterwards,
each under its path relative to the location, every read naming the listed version; an
object key that would leave the folder (``../``, an absolute path) is refused, never written.
"""

from __future__ import annotations

import contextlib
import posixpath
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mlstix.errors import UsageError
from mlstix.scan.remote._fs import RemoteError, filesystem, parse
from mlstix.scan.remote._listing import RemoteObject, list_under, relative, split
from mlstix.scan.remote._reader import RangeFile, RemoteReadError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

__all__ = ["local_copy"]

_CHUNK = 8 << 20


def _safe_relative(obj: RemoteObject) -> str:
    rel = relative(obj)
    norm = posixpath.normpath(rel)
    if not rel or norm.startswith(("../", "/")) or norm in ("..", ".") or "\\" in rel:
        raise RemoteError(f"{obj.url}: object name leaves the model folder; not copied")
    return norm


def _copy(fs: AbstractFileSystem, obj: RemoteObject, target: Path) -> None:
    """Every byte of ``obj`` into ``target``, read at the listed version (:mod:`._pin`): the
    copy that is hashed is the object that was listed, or the copy fails."""
    reader = RangeFile(fs, obj.path, obj.size, version=obj.version, identity=obj.identity)
    try:
        with reader, target.open("wb") as out:
            while chunk := reader.read(_CHUNK):
                out.write(chunk)
    except RemoteReadError as exc:
        raise RemoteError(f"{obj.url}: cannot fetch: {exc}") from None
    if target.stat().st_size != obj.size:
        raise RemoteError(f"{obj.url}: the object changed while it was copied")


@contextlib.contextmanager
def local_copy(url: str) -> Iterator[Path]:
    """Yield a local folder (or file) holding the model at ``url``."""
    loc = parse(url)
    files, prefixes = split(loc)
    objs = list(files)
    for prefix in prefixes:
        objs.extend(list_under(loc.url, prefix))
    if not objs:
        raise UsageError(f"nothing to copy: no objects under {loc.url}")
    fs = filesystem(loc)
    name = posixpath.basename(loc.path.rstrip("/")).split("@", 1)[0] or "model"
    with tempfile.TemporaryDirectory(prefix="mlstix-remote-") as tmp:
        single = len(objs) == 1 and objs[0].path.strip("/") == loc.path.strip("/")
        root = Path(tmp) / name
        for obj in objs:
            target = root if single else root / _safe_relative(obj)
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy(fs, obj, target)
        yield root
