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
from dataclasses import dataclass, field
from typing import IO, Any

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
_MAX_DIRECTORIES = 16


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


def _eocd_candidates(fp: IO[bytes], file_size: int) -> list[int]:
    """Offsets of the end-of-central-directory records readers pick (last first).

    CPython's ``zipfile`` and miniz (PyTorch) take the last record with room for its fixed
    part, even inside another record's comment; stricter readers take the record whose
    comment ends exactly at the end of the file. An archive holding several directories
    shows one set of members to one tool and another to the next, so both are read. (Records
    of archives stored inside this one are neither, and are left to the member's own scan.)"""
    tail_len = min(file_size, 22 + 65535)
    base = file_size - tail_len
    fp.seek(base)
    tail = fp.read(tail_len)
    found: list[int] = []
    idx = tail.rfind(_EOCD)
    while idx >= 0 and len(found) < _MAX_DIRECTORIES:
        room = len(tail) - idx
        if room >= 22:
            (comment,) = struct.unpack("<H", tail[idx + 20 : idx + 22])
            if not found or comment == room - 22:
                found.append(base + idx)
        idx = tail.rfind(_EOCD, 0, idx)
    return found


@dataclass(frozen=True)
class _Directory:
    count: int
    size: int
    offset: int
    shift: int  # bytes before the archive (a prefix): added to every offset
    zip64: bool = field(compare=False)


def _zip64_records(fp: IO[bytes], eocd_pos: int) -> list[tuple[int, bytes]]:
    """The ZIP64 end records a reader may take for this end record: the one right before the
    locator (CPython, miniz first) and the one the locator points at (miniz's fallback)."""
    if eocd_pos < 20 + 56:
        return []
    fp.seek(eocd_pos - 20)
    loc = fp.read(20)
    if loc[:4] != _EOCD64_LOC:
        return []
    out = []
    (pointed,) = struct.unpack("<Q", loc[8:16])
    for pos in dict.fromkeys((eocd_pos - 20 - 56, pointed)):
        fp.seek(pos)
        rec = fp.read(56)
        if len(rec) == 56 and rec[:4] == _EOCD64:
            out.append((pos, rec))
    return out


def _directories(fp: IO[bytes], eocd_pos: int) -> list[_Directory]:
    """The central directories one end record leads readers to: the ZIP64 record's (CPython
    and miniz take it whenever a locator precedes the end record, whatever the 32-bit fields
    say; current PyTorch always writes one), the 32-bit fields' (readers without ZIP64), each
    with the prefix shift CPython and new miniz apply and without it (older miniz)."""
    fp.seek(eocd_pos)
    eocd = fp.read(22)
    (_, _, _, _, count, cd_size, cd_offset, _) = struct.unpack("<4sHHHHIIH", eocd)
    records = _zip64_records(fp, eocd_pos)
    candidates = []
    for pos, rec in records:
        count64, size64, offset64 = struct.unpack("<QQQ", rec[32:56])
        candidates.append((count64, size64, offset64, pos - (offset64 + size64), True))
    tail = 56 + 20 if records else 0
    candidates.append((count, cd_size, cd_offset, eocd_pos - tail - (cd_offset + cd_size), False))
    out: list[_Directory] = []
    for n, size, offset, shift, zip64 in candidates:
        for sh in dict.fromkeys((shift, 0)):
            if sh < 0 or offset + sh + size > eocd_pos:
                continue
            fp.seek(offset + sh)
            if n and fp.read(4) != _CENTRAL:
                continue
            d = _Directory(n, size, offset, sh, zip64)
            if d not in out:
                out.append(d)
    return out


def read_central_directory(fp: IO[bytes], file_size: int) -> tuple[list[ZipEntry], list[str]]:
    """The entries of the archive and the quirks noticed while reading its directory.

    Every central directory some reader could pick is read (several end records, ZIP64
    records that shadow the 32-bit ones); the entries are their union, so a member that any
    reader sees is analysed."""
    quirks: list[str] = []
    candidates = _eocd_candidates(fp, file_size)
    if not candidates:
        raise ZipError("no end-of-central-directory record (truncated or not a zip)")
    directories = list(dict.fromkeys(d for pos in candidates for d in _directories(fp, pos)))
    if not directories:
        raise ZipError("central directory lies beyond the end of the file")
    if len(directories) > 1:
        quirks.append(
            f"{len(directories)} different central directories: readers disagree on the members"
        )
    entries: dict[tuple[str, int], ZipEntry] = {}
    read_any = False
    for d in directories:
        try:
            found = _read_directory(fp, d, quirks)
        except ZipError as exc:
            quirks.append(str(exc))
            continue
        read_any = True
        for e in found:
            entries.setdefault((e.name, e.header_offset), e)
    if not read_any:
        raise ZipError(quirks[-1])
    return list(entries.values()), quirks


def _read_directory(fp: IO[bytes], d: _Directory, quirks: list[str]) -> list[ZipEntry]:
    if d.count > _MAX_ENTRIES:
        raise ZipError(f"archive claims {d.count} entries")
    if d.size > _MAX_ENTRIES * 400:
        raise ZipError(f"central directory of {d.size} bytes")
    if d.shift:
        quirks.append(f"{d.shift} bytes precede the archive")
    fp.seek(d.offset + d.shift)
    cd = fp.read(d.size)
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
        entries.append(ZipEntry(name, method, flags, crc, csize, usize, offset + d.shift))
        pos += 46 + nlen + xlen + clen
    if len(entries) != d.count and not (d.count == 0xFFFF and not d.zip64):
        quirks.append(f"directory lists {len(entries)} entries, end record says {d.count}")
    return entries


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


def _lzma_member(fp: IO[bytes], start: int, size: int) -> tuple[Any, int]:
    """ZIP method 14: a 4-byte header (version, properties length), the LZMA1 properties,
    then raw LZMA1 data (APPNOTE 5.8.8), as CPython's ``zipfile`` reads it."""
    import lzma

    fp.seek(start)
    head = fp.read(4)
    if len(head) < 4:
        raise ZipError("truncated LZMA header")
    (plen,) = struct.unpack("<H", head[2:4])
    props = fp.read(plen)
    if plen < 5 or len(props) < 5 or props[0] >= 9 * 5 * 5:
        raise ZipError("bad LZMA properties")
    lc, rest = props[0] % 9, props[0] // 9
    lp, pb = rest % 5, rest // 5
    (dict_size,) = struct.unpack("<I", props[1:5])
    lzma1 = {"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": lp, "pb": pb}
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1]), 4 + plen


def open_member(
    fp: IO[bytes], entry: ZipEntry, budget: int, spool: int = 64 << 20
) -> tuple[IO[bytes], list[str]]:
    """A seekable stream of the member's bytes. Compressed members (deflate, bzip2, LZMA:
    what CPython's ``zipfile`` reads, so what ``numpy.load`` and pandas read) are decompressed
    up to ``budget`` bytes (raising :class:`LimitExceeded` beyond it), in memory when small."""
    start, quirks = data_offset(fp, entry)
    if entry.method == 0:
        size = entry.compressed_size
        return io.BufferedReader(Window(fp, start, size), 1 << 16), quirks
    skip = 0
    d: Any
    if entry.method == 8:
        d = zlib.decompressobj(-15)
    elif entry.method == 12:
        import bz2

        d = bz2.BZ2Decompressor()
    elif entry.method == 14:
        d, skip = _lzma_member(fp, start, entry.compressed_size)
    else:
        raise ZipError(f"{entry.name}: unsupported compression method {entry.method}")
    import tempfile

    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=spool)  # noqa: SIM115
    produced = 0

    def room() -> int:
        return budget - produced + 1

    def keep(data: bytes) -> None:
        nonlocal produced
        produced += len(data)
        if produced > budget:
            raise LimitExceeded(f"{entry.name}: decompresses to more than {budget} bytes")
        out.write(data)

    try:
        for chunk in _chunks(fp, start + skip, entry.compressed_size - skip):
            if entry.method == 8:
                buf = chunk
                while buf:
                    keep(d.decompress(buf, room()))
                    buf = d.unconsumed_tail
            else:
                keep(d.decompress(chunk, room()))
                while not d.eof and not d.needs_input:
                    keep(d.decompress(b"", room()))
            if d.eof:
                break
    except (LimitExceeded, zlib.error, OSError, EOFError, ValueError):
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
