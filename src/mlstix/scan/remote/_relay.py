"""Range reads done by the scan's agent for a process that has no store client of its own.

A rescan's fixed cost is mostly imports: the store's SDK (fsspec, s3fs, aiobotocore, botocore:
about 0.3 s of CPU) and the model scanner (pydantic, the analyzers: about 0.15 s). The agent
(:mod:`._background`) is forked before either, imports the SDK and lists, while this process
imports the scanner; the few changed objects are then analysed in a worker forked from this
process, whose :class:`~._reader.RangeFile` hands each batch of ranges to the agent through a
pipe (:func:`client`), and the agent reads them with the same :class:`~._reader.RangeFile`
logic, pinned to the listed version (:class:`Server`). Neither process imports what the other
did, and the worker analyses exactly the bytes a direct read would give it.

A worker whose agent is gone cannot read: it ends at once (:func:`os._exit`), so that the
caller analyses its objects again elsewhere, rather than reporting them unreadable.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mlstix.errors import MlstixError
from mlstix.scan.remote._reader import RangeFile, Relay, RemoteReadError

if TYPE_CHECKING:
    from mlstix.scan.remote._listing import RemoteObject

__all__ = ["Server", "client", "current", "use"]

# the object a request reads: (location, path, size, listed version, identity)
Key = tuple[str, str, int, str, str]

_MAX_OPEN = 64  # objects prefetched ahead of a worker (it analyses at most 16)
_LANES = 8  # objects prefetched at once

_conn: Any = None  # this process's end of the pipe to the agent (set in a worker)


def use(conn: Any) -> None:
    """Read through the agent at the other end of ``conn`` from now on (in a forked worker)."""
    global _conn
    _conn = conn


def current() -> Any:
    return _conn


def client(conn: Any, obj: RemoteObject, version: str) -> Relay:
    """The reads of ``obj`` (at ``version``) through the agent at the end of ``conn``."""
    key: Key = (obj.root, obj.path, obj.size, version, obj.identity)

    def read(ranges: list[tuple[int, int]]) -> tuple[list[bytes], str]:
        try:
            conn.send((key, ranges))
            ok, payload, read_version = conn.recv()
        except (EOFError, OSError):
            os._exit(3)  # the agent is gone: the caller analyses this object again
        if not ok:
            raise RemoteReadError(str(payload))
        return list(payload), str(read_version)

    return read


class Server:
    """The agent's end: one :class:`RangeFile` per object read, so that an object's pin (its
    version id, the Hub's commit) holds across the reads of one analysis.

    :meth:`prefetch` starts, for every object a worker is about to analyse, the batch its
    :meth:`RangeFile.prefetch` will ask first, all at once in threads; the worker's first read
    of each object is then answered from it (the round trips of the objects overlap each other
    and the worker's own start)."""

    def __init__(self) -> None:
        self._readers: dict[Key, RangeFile] = {}
        self._early: dict[Key, tuple[list[tuple[int, int]], Future[tuple[bool, Any, str]]]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def prefetch(self, objs: list[RemoteObject], max_bytes: int) -> None:
        from mlstix.scan.remote._reader import prefetch_ranges

        for obj in objs[:_MAX_OPEN]:
            key: Key = (obj.root, obj.path, obj.size, obj.version, obj.identity)
            ranges = prefetch_ranges(obj.size, max_bytes)
            if ranges and key not in self._early:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(_LANES, thread_name_prefix="mlstix-prefetch")
                future = self._pool.submit(self._read, key, ranges)
                self._early[key] = (ranges, future)

    def answer(self, request: Any) -> tuple[bool, Any, str]:
        """``(True, blobs, version)``, or ``(False, why, "")`` for a read that failed."""
        key, ranges = request
        ranges = [(int(s), int(e)) for s, e in ranges]
        early = self._early.pop(key, None)
        if early is not None:
            answered = early[1].result()  # this object's reads wait for its prefetch
            if early[0] == ranges:
                return answered
        return self._read(key, ranges)

    def _read(self, key: Key, ranges: list[tuple[int, int]]) -> tuple[bool, Any, str]:
        try:
            reader = self._reader(key)
            return True, reader.read_ranges(ranges), reader.version
        except (RemoteReadError, MlstixError) as exc:
            return False, str(exc), ""
        except Exception as exc:  # in a prefetch thread: whatever failed is that read's error
            return False, f"{type(exc).__name__}: {exc}", ""

    def _reader(self, key: Key) -> RangeFile:
        reader = self._readers.get(key)
        if reader is None:
            from mlstix.scan.remote._fs import filesystem, parse

            root, path, size, version, identity = key
            fs = filesystem(parse(root))
            reader = RangeFile(fs, path, size, version=version, identity=identity)
            self._readers[key] = reader
        return reader

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._early.clear()
        readers, self._readers = self._readers, {}
        for reader in readers.values():
            reader.close()
