"""``mlstix detect -``: a log read from standard input.

Standard input redirected from a file (``mlstix detect - < trail.json.gz``) is read as that
file. A pipe is copied as it arrives, still compressed if it is (gzip is recognised by its magic
bytes afterwards, as for any file), to a private temporary file (mode 0600, in ``TMPDIR``) that is
read like a file given by name and removed when the run ends, Ctrl-C included. Why not hand the
pipe itself to DuckDB: a damaged log is read twice (DuckDB refuses it, then the salvage reader
keeps its good lines and names the bad ones), and JSON lines are read a third time to turn
DuckDB's record numbers into line numbers; a pipe can be read only once. The disk holds what came
through the pipe, not its decompressed size.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from mlstix.errors import MlstixError

__all__ = ["STDIN", "spooled"]

STDIN = "-"  # the name standard input has on the command line and in the report


def _stream() -> BinaryIO:
    stream = sys.stdin
    if stream is None or stream.closed:
        raise MlstixError("-: standard input is closed", hint="pipe a log into mlstix detect -")
    try:
        tty = stream.isatty()
    except ValueError:  # closed underneath
        tty = False
    if tty:
        raise MlstixError(
            "-: standard input is a terminal, not a log",
            hint="pipe a log into it: zcat trail.json.gz | mlstix detect -, or name the file",
        )
    return stream.buffer if hasattr(stream, "buffer") else stream  # type: ignore[return-value]


def _regular_file(source: BinaryIO) -> Path | None:
    """Standard input redirected from a file (``< trail.json.gz``): the file itself, reopened
    through ``/proc/self/fd`` (Linux: a new open of the same file, from its start), so nothing
    is copied; None for a pipe, a socket, a terminal or where /proc is not there."""
    try:
        fd = source.fileno()
        regular = stat.S_ISREG(os.fstat(fd).st_mode) and os.lseek(fd, 0, os.SEEK_CUR) == 0
    except (OSError, ValueError, AttributeError):  # io.BytesIO and the like have no fd
        return None
    path = Path(f"/proc/self/fd/{fd}")
    return path if regular and path.exists() else None


@contextmanager
def spooled(stream: BinaryIO | None = None) -> Iterator[Path]:
    """A file holding everything read from ``stream`` (standard input by default): the file
    standard input was redirected from, else a temporary copy."""
    source = stream if stream is not None else _stream()
    direct = _regular_file(source)
    if direct is not None:
        yield direct
        return
    fd, tmp = tempfile.mkstemp(prefix="mlstix-stdin-", suffix=".log")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                shutil.copyfileobj(source, out, 1 << 20)
            except OSError as exc:
                raise MlstixError(
                    f"-: cannot read standard input into {tempfile.gettempdir()}: "
                    f"{(exc.strerror or str(exc)).lower()}",
                    hint="set TMPDIR to a folder with room for the log as piped",
                ) from None
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)
