"""Writing outputs safely.

A regular file is written atomically: a temporary file in the same folder, flushed and renamed
over the target, so a failed run leaves no half-written file. ``-`` means stdout. A path that
exists and is not a regular file (a FIFO, ``/dev/null``, ``/dev/stdout``) is written in place and
never renamed over.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["write_atomic", "write_many_atomic", "write_output"]


def _is_special(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    return not stat.S_ISREG(mode)


def _temp_beside(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).chmod(0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new, never a part."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if _is_special(path):
        with path.open("wb") as fh:
            fh.write(payload)
        return
    tmp = _temp_beside(path, payload)
    tmp.replace(path)


def write_many_atomic(files: Mapping[Path, bytes | str]) -> None:
    """Write several files: all temporaries first, then the renames, so a failure while
    preparing leaves every target untouched."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            payload = data.encode("utf-8") if isinstance(data, str) else data
            staged.append((_temp_beside(path, payload), path))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, path in staged:
        tmp.replace(path)


def write_output(target: str, data: bytes | str) -> None:
    """Write a command's output to ``target``: ``-`` for stdout, else a path."""
    if target == "-":
        if isinstance(data, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(data)
            sys.stdout.flush()
        return
    write_atomic(Path(target), data)
