"""Writing outputs safely: the one helper every command that writes goes through.

A regular file is written atomically: a temporary file in the same folder, flushed and renamed
over the target, so a failed run leaves no half-written file. ``-`` means stdout. A path that
exists and is not a regular file (a FIFO, ``/dev/null``, ``/dev/stdout``) is written in place and
never renamed over; a folder is refused; a symbolic link is followed (its target is replaced,
the link stays). The folder an output file goes into must exist: a typo
in ``-o reprots/x.json`` is an error, not a new folder. Every ``OSError`` met while writing
becomes an :class:`~mlstix.errors.OutputError` (``cannot write PATH: reason``, exit 2).
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlstix.errors import OutputError

__all__ = [
    "check_output_path",
    "prepare_out_dir",
    "write_atomic",
    "write_many_atomic",
    "write_output",
]


@contextmanager
def _writing(path: Path | str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise OutputError.from_os_error(path, exc) from None


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode
    except FileNotFoundError:
        return None


def check_output_path(path: Path) -> None:
    """Refuse, before any work is done, an output file that cannot be written: a folder, or a
    file whose folder does not exist (or is not a folder)."""
    path = _through_link(path)
    with _writing(path):
        mode = _mode(path)
        if mode is not None and stat.S_ISDIR(mode):
            raise OutputError(path, "is a directory", hint="give a file name inside it")
        if mode is None:
            parent = path.parent
            parent_mode = _mode(parent)
            if parent_mode is None:
                raise OutputError(path, f"the folder {parent} does not exist")
            if not stat.S_ISDIR(parent_mode):
                raise OutputError(path, f"{parent} is not a folder")


def prepare_out_dir(out: Path) -> None:
    """Make ``out`` (an output folder such as ``kb site --out``) if it is missing; its parent
    must exist. A file in its place is refused."""
    with _writing(out):
        mode = _mode(out)
        if mode is not None:
            if not stat.S_ISDIR(mode):
                raise OutputError(out, "exists and is not a folder")
            return
        if not out.parent.is_dir():
            raise OutputError(out, f"the folder {out.parent} does not exist")
        out.mkdir()


# how tempfile.mkstemp opens its files: only this process's new file, never through a link
_EXCLUSIVE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _create_beside(path: Path) -> tuple[int, Path]:
    """A new, empty file ``.NAME.XXXXXXXXXXXX.tmp`` beside ``path`` (mode 0600), opened for
    writing: what ``tempfile.mkstemp`` makes, without importing ``tempfile`` (with ``random``,
    ``shutil``, ``bz2`` and ``lzma`` it was about 3 ms of every command that writes a file)."""
    for _ in range(100):  # 48 random bits: a clash is an accident, a hundred in a row is not
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, _EXCLUSIVE, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name for a temporary file", str(path.parent))


def _temp_beside(path: Path, data: bytes) -> Path:
    fd, tmp = _create_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(0o644)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _through_link(path: Path) -> Path:
    """An output that is a symbolic link is written where the link leads, atomically there:
    the link stays a link (renaming over it made it a file and left its target as it was)."""
    if not path.is_symlink():
        return path
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return path  # a device, FIFO or pipe behind it (/dev/stdout): written in place
    except OSError:
        pass  # a dangling link, or a loop: resolved, or the write says why
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a loop: writing the path itself will say so
        return path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new, never a part.

    The folder of ``path`` must exist. Raises :class:`OutputError`.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path = _through_link(path)
    check_output_path(path)
    with _writing(path):
        mode = _mode(path)
        if mode is not None and not stat.S_ISREG(mode):
            with path.open("wb") as fh:
                fh.write(payload)
            return
        tmp = _temp_beside(path, payload)
        try:
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def write_many_atomic(files: Mapping[Path, bytes | str]) -> None:
    """Write several files of one output tree: all temporaries first, then the renames, so a
    failure while preparing leaves every target untouched. Sub-folders of the tree are made.

    Raises :class:`OutputError` naming the file that could not be written.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            payload = data.encode("utf-8") if isinstance(data, str) else data
            with _writing(path):
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_dir():
                    raise IsADirectoryError(21, "Is a directory")
                staged.append((_temp_beside(path, payload), path))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for index, (tmp, path) in enumerate(staged):
        try:
            with _writing(path):
                tmp.replace(path)
        except BaseException:
            for left, _ in staged[index:]:
                left.unlink(missing_ok=True)
            raise


def _codec(stream: Any) -> tuple[str, str]:
    return stream.encoding or "utf-8", stream.errors or "strict"


def _write_all(raw: io.RawIOBase, data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file. Its write (and a text layer's over it) may
    take only part of the data, when a signal arrives mid-write (a worker ending) or the reader
    leaves, and nothing retries the rest: the report would end short, and a closed pipe would
    exit 0 instead of failing on the next write."""
    view = memoryview(data)
    while view:
        written = raw.write(view)
        if not written:  # None: a non-blocking stdout that is full
            raise BlockingIOError(errno.EAGAIN, "standard output is not accepting data")
        view = view[written:]


def write_output(target: str, data: bytes | str) -> None:
    """Write a command's output to ``target``: ``-`` for stdout, else a path (atomically)."""
    if target == "-":
        with _writing("standard output"):
            raw = getattr(sys.stdout, "buffer", None)
            if isinstance(raw, io.RawIOBase):  # PYTHONUNBUFFERED=1 or -u: see _write_all
                sys.stdout.flush()
                text = data if isinstance(data, bytes) else data.encode(*_codec(sys.stdout))
                _write_all(raw, text)
            elif isinstance(data, bytes):
                sys.stdout.flush()
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            else:
                sys.stdout.write(data)
                sys.stdout.flush()
        return
    write_atomic(Path(target), data)
