"""Logs read in blocks of whole lines, into one reused buffer (:func:`._records.read_logs`
takes its blocks from here)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from typing import IO
from zlib import error as ZlibError

__all__ = ["Block", "blocks"]

Block = bytes | bytearray | memoryview
"""Whole lines of a log, as :func:`._records.read_logs` hands them to a columnar reader."""


def _filler(stream: IO[bytes]) -> Callable[[memoryview], int]:
    """The stream's ``readinto1`` (one read of what is there, straight into the buffer: a
    file's whole request, a gzip stream's next piece), or its ``read1`` (else ``read``) copied
    into it."""
    into = getattr(stream, "readinto1", None)
    if into is not None:
        return into  # type: ignore[no-any-return]
    read = getattr(stream, "read1", stream.read)

    def fill(view: memoryview) -> int:
        piece = read(len(view))
        view[: len(piece)] = piece
        return len(piece)

    return fill


def _size(stream: IO[bytes], block: int) -> int:
    """The buffer for ``stream``: a block, or for a plain file smaller than that, the file and
    a little room (a folder of small captures must not cost a block's memory each)."""
    if not isinstance(stream, io.BufferedReader):
        return block  # (gzip: its size inflated is not known)
    try:
        size = os.fstat(stream.fileno()).st_size
    except OSError:
        return block
    return max(1, min(block, size + (64 << 10)))


def blocks(stream: IO[bytes], block: int) -> Iterator[tuple[Block, Exception | None]]:
    """Blocks of whole lines (a line is what ends in ``\\n``, as in iterating the file), and
    last, the error a damaged stream ended with, after every whole line read before it (reads
    take what the stream has, ``readinto1``: a gzip stream's ``read(n)`` drops what it
    decompressed when it meets the damage). A block is cut once it holds ``block`` bytes, at
    its last newline. The stream is read into one buffer of a block's size (or the file's, when
    smaller), reused: each block is a view of it, released when the consumer asks for the next
    (a line longer than the buffer grows it until the line ends)."""
    fill = _filler(stream)
    buffer = bytearray(_size(stream, block))
    view = memoryview(buffer)
    have = 0  # bytes in the buffer: whole lines and the start of the next
    while True:
        if have == len(buffer):  # a line longer than the buffer: read on into a larger one
            buffer = buffer + bytes(len(buffer))
            view = memoryview(buffer)
        try:
            read = fill(view[have:])
        except (EOFError, OSError, ZlibError) as exc:  # (gzip.BadGzipFile is an OSError)
            cut = buffer.rfind(b"\n", 0, have) + 1
            if cut:
                yield from _lent(view, cut)
            yield b"", exc
            return
        if not read:
            if have:
                yield from _lent(view, have)
            return
        start, have = have, have + read
        if have >= block and buffer.find(b"\n", start, have) >= 0:
            cut = buffer.rfind(b"\n", 0, have) + 1
            yield from _lent(view, cut)
            rest = have - cut
            if len(buffer) > block and rest < block:  # (back to a block's size after a long line)
                buffer = bytearray(buffer[cut:have]) + bytes(block - rest)
                view = memoryview(buffer)
            else:
                view[:rest] = buffer[cut:have]
            have = rest


def _lent(view: memoryview, size: int) -> Iterator[tuple[Block, None]]:
    """The first ``size`` bytes of ``view``, released once the consumer is done with them."""
    block = view[:size]
    try:
        yield block, None
    finally:
        block.release()
