"""A seekable, read-only file over one remote object, fetching by HTTP range only the bytes
that the model scanner's analyzers read.

Nothing about the analysis changes remotely: the analyzers that scan a local file get this
object as their ``Source.fp`` and read through it exactly as they read a file, so the bytes a
local scan looks at are the bytes fetched, and a hostile file can hide nothing from a remote
scan that a local scan would see (a differential test compares both on the same bytes). Which
bytes that is follows from the analyzers: safetensors and GGUF their header and metadata, zip
checkpoints their end records, central directory and the members that can hold code, pickles
everything.

To keep round trips few, opening an object prefetches, concurrently where the filesystem is
asynchronous (``cat_ranges``), what every scan reads: the head, the tail (where the zip end
record sits, which every loader's view looks for), and the power-of-two offsets where the HDF5
library looks for a superblock after a user block. Small objects are fetched whole. Sequential
reads (a pickle) double their read-ahead up to 16 MiB. Every byte the filesystem returns is
counted; a cap (``--max-bytes-per-file``) turns a read past it into an error for that file,
never into a silently partial, clean result. Every read names the version that was listed
(:mod:`._pin`): an object replaced while it is read is an error, never a mixed read.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlstix.scan.remote._pin import ObjectChanged, Pin, hub_pinned_path, pin_for, protocol_of

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

__all__ = ["FetchLimitError", "RangeFile", "Relay", "RemoteReadError", "prefetch_ranges"]

# reads of one object done elsewhere: ranges -> (their bytes, the version read); raises
# RemoteReadError (see :mod:`._relay`)
Relay = Callable[[list[tuple[int, int]]], tuple[list[bytes], str]]

_WHOLE = 1 << 20  # objects up to this size are fetched in one request
_EDGE = 64 << 10  # head prefetched
_TAIL = 22 + 65535 + 20 + 56  # zip end record with the longest comment, zip64 locator/record
_AHEAD_MIN = 16 << 10
_AHEAD_MAX = 16 << 20
_SYNC_LANES = 4  # concurrent range reads on a synchronous filesystem
_CACHE_MAX = 64 << 20  # evictable bytes kept (prefetched head, tail and probes always stay)


def prefetch_ranges(size: int, max_bytes: int = 0) -> list[tuple[int, int]]:
    """What every scan of an object of ``size`` bytes reads, fetched in one batch when it is
    opened: all of a small object; the head, the tail and the HDF5 superblock probes of a
    larger one. None under a cap it would exceed (only what the analysis asks is fetched)."""
    if size <= _WHOLE:
        ranges = [(0, size)]
    else:
        ranges = [(0, _EDGE), (max(_EDGE, size - _TAIL), size)]
        probe = 512
        while probe + 8 <= size - _TAIL:
            if probe >= _EDGE:
                ranges.append((probe, probe + 8))
            probe *= 2
    ranges = [(s, e) for s, e in ranges if e > s]
    if max_bytes and sum(e - s for s, e in ranges) > max_bytes:
        return []
    return ranges


class RemoteReadError(OSError):
    """The store did not return the bytes asked for (network, permission, object changed)."""


class FetchLimitError(OSError):
    """Analysing the object would fetch more than ``--max-bytes-per-file``."""


class RangeFile(io.RawIOBase):
    """``fs``'s object ``path`` of ``size`` bytes, read by range with a cache of fetched spans."""

    def __init__(
        self,
        fs: AbstractFileSystem | None,
        path: str,
        size: int,
        *,
        max_bytes: int = 0,
        version: str = "",
        identity: str = "",
        relay: Relay | None = None,
    ) -> None:
        super().__init__()
        self.fs: Any = fs  # None: reads go through the relay
        self._relay = relay  # reads done by another process (the scan's agent) for this one
        self.path = path
        self.size = size
        self.max_bytes = max_bytes
        self.version = version  # what is read: the listed version, or what the store named
        self._identity = identity  # the listing's, checked where the version is resolved here
        self._pin: Pin | None = None
        self._pinned = False
        self.fetched = 0  # bytes returned by the store
        self.requests = 0
        self._pos = 0
        self._starts: list[int] = []  # sorted, non-overlapping cached spans
        self._spans: dict[int, bytes] = {}
        self._ahead = _AHEAD_MIN
        self._last_end = -1
        self._handles: list[Any] = []  # synchronous filesystems: open handles, one per lane
        self._order: list[int] = []  # spans that may be evicted, oldest first
        self._cached = 0  # bytes in those spans

    # --- io.RawIOBase ---------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        pos = base + offset
        if pos < 0:
            raise OSError(22, "negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        start = self._pos
        end = self.size if size is None or size < 0 else min(self.size, start + size)
        if start >= end:
            return b""
        data = self._get(start, end)
        self._pos = end
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    # --- fetching -------------------------------------------------------------------------
    def prefetch(self) -> None:
        """Fetch, in one concurrent batch, what every scan of the object reads."""
        ranges = prefetch_ranges(self.size, self.max_bytes)
        if ranges:
            self._fetch(ranges, pin=True)

    def _missing(self, start: int, end: int) -> list[tuple[int, int]]:
        gaps: list[tuple[int, int]] = []
        pos = start
        i = bisect.bisect_right(self._starts, pos) - 1
        if i < 0:
            i = 0
        while pos < end:
            if i < len(self._starts):
                s = self._starts[i]
                e = s + len(self._spans[s])
                if s <= pos < e:
                    pos = e
                    i += 1
                    continue
                if s > pos:
                    gaps.append((pos, min(s, end)))
                    pos = min(s, end)
                    continue
                i += 1
                continue
            gaps.append((pos, end))
            break
        return gaps

    def _evict(self, start: int, end: int) -> None:
        """Keep the cache bounded (hashing or a whole pickle streams through it): drop the
        oldest spans that are not prefetched and not part of the read in progress."""
        for s in list(self._order):
            if self._cached <= _CACHE_MAX // 2:
                break
            e = s + len(self._spans[s])
            if e <= start or s >= end:
                self._order.remove(s)
                self._cached -= e - s
                del self._spans[s]
                self._starts.remove(s)

    def _get(self, start: int, end: int) -> bytes:
        if self._cached > _CACHE_MAX:
            self._evict(start, end)
        gaps = self._missing(start, end)
        if gaps:
            sequential = gaps[0][0] == self._last_end
            self._ahead = min(_AHEAD_MAX, self._ahead * 2) if sequential else _AHEAD_MIN
            last_start, last_end = gaps[-1]
            grown = min(self.size, max(last_end, last_start + self._ahead))
            gaps[-1] = (last_start, self._clip(last_start, grown))
            self._fetch(gaps)
        i = bisect.bisect_right(self._starts, start) - 1
        first = self._spans[self._starts[i]]
        if end - self._starts[i] <= len(first):  # within one span: one copy
            return first[start - self._starts[i] : end - self._starts[i]]
        out = bytearray()
        pos = start
        while pos < end:
            s = self._starts[i]
            chunk = self._spans[s]
            take = chunk[pos - s : end - s]
            if not take:
                raise RemoteReadError(f"{self.path}: the store returned fewer bytes than asked")
            out += take
            pos += len(take)
            i += 1
        return bytes(out)

    def _clip(self, start: int, end: int) -> int:
        """Do not read ahead into bytes that are already cached."""
        j = bisect.bisect_right(self._starts, start)
        if j < len(self._starts):
            end = min(end, self._starts[j])
        return end

    def _fetch(self, ranges: list[tuple[int, int]], *, pin: bool = False) -> None:
        ranges = [(s, e) for s, e in ranges if e > s]
        want = sum(e - s for s, e in ranges)
        if self.max_bytes and self.fetched + want > self.max_bytes:
            raise FetchLimitError(
                f"analysing it needs more than the {self.max_bytes} bytes allowed per file "
                "(--max-bytes-per-file); not fully analysed"
            )
        if self._relay is not None:
            blobs, self.version = self._relay(ranges)
        else:
            blobs = self.read_ranges(ranges)
        self.requests += len(ranges)
        for (s, e), blob in zip(ranges, blobs, strict=True):
            if not isinstance(blob, bytes):
                raise RemoteReadError(_why(blob) if isinstance(blob, BaseException) else "no data")
            self.fetched += len(blob)
            if len(blob) != e - s:
                raise RemoteReadError(
                    f"asked for bytes {s}-{e - 1}, got {len(blob)}: the object changed or is "
                    "shorter than listed"
                )
            self._insert(s, blob, pin)
        self._last_end = ranges[-1][1]

    def read_ranges(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        """The bytes of ``ranges`` as the store returns them, at the pinned version (what a
        relay's other end runs); any failure is a :class:`RemoteReadError`."""
        try:
            if not self._pinned:
                self._pin_version()
            if self._pin is not None:
                blobs = self._pin.read(ranges)
                self.version = self._pin.version
                return blobs
            if not getattr(self.fs, "async_impl", False):
                return self._read_spans(ranges)
            if len(ranges) == 1:
                return [self.fs.cat_file(self.path, start=ranges[0][0], end=ranges[0][1])]
            n = len(ranges)
            return list(self.fs.cat_ranges(
                [self.path] * n, [s for s, _ in ranges], [e for _, e in ranges], on_error="raise"
            ))  # fmt: skip
        except ObjectChanged as exc:
            raise RemoteReadError(str(exc)) from None
        except OSError as exc:
            raise RemoteReadError(_why(exc)) from None
        except Exception as exc:  # network libraries' own errors (aiohttp, requests, SDKs)
            raise RemoteReadError(_why(exc)) from None

    def _pin_version(self) -> None:
        """Before the first read: the pinned reader of an object store, or, on the Hub, the
        path at the commit the revision names (checked against the listing)."""
        self._pinned = True
        if protocol_of(self.fs) == "hf" and self._identity:
            self.path, self.version = hub_pinned_path(self.fs, self.path, self._identity)
        else:
            self._pin = pin_for(self.fs, self.path, self.version)

    def _read_spans(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        """A synchronous filesystem (the Hub's): open handles without fsspec's block cache, so
        each read is one range request of exactly the bytes asked for; a batch (the prefetch)
        is spread over up to four handles, each read by one thread."""
        lanes = min(_SYNC_LANES, len(ranges))
        while len(self._handles) < lanes:
            self._handles.append(
                self.fs.open(self.path, "rb", cache_type="none", block_size=1 << 20)
            )

        def lane(i: int) -> list[tuple[int, bytes]]:
            handle = self._handles[i]
            out = []
            for k in range(i, len(ranges), lanes):
                start, end = ranges[k]
                handle.seek(start)
                out.append((k, bytes(handle.read(end - start))))
            return out

        if lanes == 1:
            return [blob for _, blob in lane(0)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(lanes) as pool:
            parts = [pair for chunk in pool.map(lane, range(lanes)) for pair in chunk]
        return [blob for _, blob in sorted(parts, key=lambda kb: kb[0])]

    def close(self) -> None:
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.close()
        super().close()

    def _insert(self, start: int, blob: bytes, pin: bool) -> None:
        # only gaps are fetched, so a new span never overlaps a cached one
        bisect.insort(self._starts, start)
        self._spans[start] = blob
        if not pin:
            self._order.append(start)
            self._cached += len(blob)


def _why(exc: BaseException) -> str:
    from mlstix.scan.remote._fs import describe_failure

    return describe_failure(exc)
