"""A tolerant ZIP reader (PKWARE APPNOTE 6.3.10), reading archives the way PyTorch does.

PyTorch reads checkpoints with miniz from the central directory and does not check CRCs;
Python's :mod:`zipfile` refuses archives with bad CRCs or with local-header names that differ
from the central directory, so scanners built on it are blind to files PyTorch loads happily.
This reader takes names, sizes and offsets from the central directory (ZIP64 included), skips
the local header using the local header's own lengths, never checks CRCs, and reports the
quirks it sees (bad CRC when asked, name mismatch, local header flags) instead of refusing.
Members are read lazily: a stored member is a window on the file, a deflated one is
decompressed under a byte limit.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

__all__ = [
    "LimitExceeded",
    "Window",
    "ZipEntry",
    "ZipError",
    "open_member",
    "read_central_directory",
]

_EOCD = b"PK\x05\x06"
_EOCD64_LOC = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_MAX_ENTRIES = 1_000_000


class ZipError(Exception):
    """The archive's directory cannot be read."""


class LimitExceeded(Exception):
    """Decompression would exceed the byte budget (a zip bomb, or just too big)."""


@dataclass(frozen=True)
class ZipEntry:
    name: str
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


class Window(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes of ``fp`` starting at ``offset``."""

    def __init__(self, fp: IO[bytes], offset: int, size: int) -> None:
        super().__init__()
        self._fp = fp
        self._offset = offset
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        self._fp.seek(self._offset + self._pos)
        data = self._fp.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _find_eocd(fp: IO[bytes], file_size: int) -> tuple[int, bytes]:
    tail_len = min(file_size, 22 + 65535)
    fp.seek(file_size - tail_len)
    tail = fp.read(tail_len)
    idx = tail.rfind(_EOCD)
    while idx >= 0 and len(tail) - idx < 22:
        idx = tail.rfind(_EOCD, 0, idx)
    if idx < 0:
        raise ZipError("no end-of-central-directory record (truncated or not a zip)")
    return file_size - tail_len + idx, tail[idx : idx + 22]


def read_central_directory(fp: IO[bytes], file_size: int) -> tuple[list[ZipEntry], list[str]]:
    """The entries of the archive and the quirks noticed while reading its directory."""
    quirks: list[str] = []
    eocd_pos, eocd = _find_eocd(fp, file_size)
    (_, _, _, _, count, cd_size, cd_offset, _) = struct.unpack("<4sHHHHIIH", eocd)
    if count == 0xFFFF or cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF:
        fp.seek(max(0, eocd_pos - 20))
        loc = fp.read(20)
        if loc[:4] == _EOCD64_LOC:
            (eocd64_pos,) = struct.unpack("<Q", loc[8:16])
            fp.seek(eocd64_pos)
            rec = fp.read(56)
            if rec[:4] != _EOCD64:
                raise ZipError("broken ZIP64 end-of-central-directory record")
            count, cd_size, cd_offset = struct.unpack("<QQQ", rec[32:56])
    # Archives with a prefix (self-extracting, or data prepended): shift offsets like miniz.
    shift = eocd_pos - (cd_offset + cd_size)
    if shift < 0:
        raise ZipError("central directory lies beyond the end of the file")
    if shift:
        quirks.append(f"{shift} bytes precede the archive")
    if count > _MAX_ENTRIES:
        raise ZipError(f"archive claims {count} entries")
    fp.seek(cd_offset + shift)
    cd = fp.read(cd_size)
    entries: list[ZipEntry] = []
    pos = 0
    while pos + 46 <= len(cd) and cd[pos : pos + 4] == _CENTRAL:
        (flags, method, _, _, crc, csize, usize, nlen, xlen, clen) = struct.unpack(
            "<HHHHIIIHHH", cd[pos + 8 : pos + 34]
        )
        (offset,) = struct.unpack("<I", cd[pos + 42 : pos + 46])
        raw_name = cd[pos + 46 : pos + 46 + nlen]
        extra = cd[pos + 46 + nlen : pos + 46 + nlen + xlen]
        if 0xFFFFFFFF in (csize, usize, offset):
            usize, csize, offset = _zip64_extra(extra, usize, csize, offset)
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        entries.append(ZipEntry(name, method, flags, crc, csize, usize, offset + shift))
        pos += 46 + nlen + xlen + clen
    if len(entries) != count and count != 0xFFFF:
        quirks.append(f"directory lists {len(entries)} entries, end record says {count}")
    return entries, quirks


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[pos : pos + 4])
        body = extra[pos + 4 : pos + 4 + size]
        if tag == 1:
            vals = iter(struct.unpack(f"<{len(body) // 8}Q", body[: len(body) // 8 * 8]))
            if usize == 0xFFFFFFFF:
                usize = next(vals, usize)
            if csize == 0xFFFFFFFF:
                csize = next(vals, csize)
            if offset == 0xFFFFFFFF:
                offset = next(vals, offset)
            break
        pos += 4 + size
    return usize, csize, offset


def data_offset(fp: IO[bytes], entry: ZipEntry) -> tuple[int, list[str]]:
    """Where the member's data starts, and quirks of its local header."""
    fp.seek(entry.header_offset)
    local = fp.read(30)
    if len(local) < 30 or local[:4] != _LOCAL:
        raise ZipError(f"{entry.name}: no local header at offset {entry.header_offset}")
    (flags, _, _, _, _, _, _, nlen, xlen) = struct.unpack("<HHHHIIIHH", local[6:30])
    local_name = fp.read(nlen).decode("utf-8" if flags & 0x800 else "cp437", "replace")
    quirks = []
    if local_name != entry.name:
        quirks.append(f"local header names {local_name!r}, central directory {entry.name!r}")
    if flags & 0x1:
        quirks.append("encrypted flag set")
    return entry.header_offset + 30 + nlen + xlen, quirks


def open_member(
    fp: IO[bytes], entry: ZipEntry, budget: int, spool: int = 64 << 20
) -> tuple[IO[bytes], list[str]]:
    """A seekable stream of the member's bytes. Deflated members are decompressed up to
    ``budget`` bytes (raising :class:`LimitExceeded` beyond it), in memory when small."""
    start, quirks = data_offset(fp, entry)
    if entry.method == 0:
        size = entry.compressed_size
        return io.BufferedReader(Window(fp, start, size), 1 << 16), quirks
    if entry.method != 8:
        raise ZipError(f"{entry.name}: unsupported compression method {entry.method}")
    import tempfile

    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=spool)  # noqa: SIM115
    produced = 0
    d = zlib.decompressobj(-15)
    try:
        for chunk in _chunks(fp, start, entry.compressed_size):
            buf = chunk
            while buf:
                data = d.decompress(buf, budget - produced + 1)
                produced += len(data)
                if produced > budget:
                    raise LimitExceeded(f"{entry.name}: decompresses to more than {budget} bytes")
                out.write(data)
                buf = d.unconsumed_tail
            if d.eof:
                break
    except (LimitExceeded, zlib.error):
        out.close()
        raise
    out.seek(0)
    return out, quirks


def _chunks(fp: IO[bytes], start: int, size: int) -> Iterator[bytes]:
    fp.seek(start)
    left = size
    while left > 0:
        chunk = fp.read(min(left, 1 << 20))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def crc_ok(stream: IO[bytes], entry: ZipEntry) -> bool:
    stream.seek(0)
    crc = 0
    while chunk := stream.read(1 << 20):
        crc = zlib.crc32(chunk, crc)
    stream.seek(0)
    return crc == entry.crc
