"""Compressed streams, opened the way joblib (``_detect_compressor``: zlib, gzip, bz2, xz,
LZMA-alone, lz4, and its old ``ZF`` format) and pandas (``compression="infer"``: gzip, bz2, xz,
zstd) open them; the decompressed stream is scanned as a file of its own (every view again).
Decompression is bounded by the context's byte budget. zstandard and lz4 are the ``scan``
extra; without them such a stream is an error for the file, never silently skipped.
"""

from __future__ import annotations

import io
import tempfile
import zlib
from typing import IO

from mlstix.scan.models._context import Context, Source
from mlstix.scan.models.formats.ziparchive import Window

__all__ = ["analyze_compressed"]


class _ZlibReader(io.RawIOBase):
    """A readable zlib stream (``zlib`` has no file wrapper)."""

    def __init__(self, fp: IO[bytes]) -> None:
        super().__init__()
        self._fp = fp
        self._d = zlib.decompressobj()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._d.eof:
            chunk = self._d.unconsumed_tail or self._fp.read(1 << 16)
            if not chunk:
                return 0  # truncated stream: what was decompressed is scanned
            data = self._d.decompress(chunk, len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
        return 0


class _MissingModule(Exception):
    pass


def _opener(kind: str, fp: IO[bytes]) -> IO[bytes]:
    """A decompressing reader, chosen the way joblib (``_detect_compressor``) and pandas
    (``compression="infer"``) choose theirs."""
    import bz2
    import gzip
    import lzma

    if kind == "gzip":
        return gzip.GzipFile(fileobj=fp, mode="rb")  # type: ignore[return-value]
    if kind == "bz2":
        return bz2.BZ2File(fp, mode="rb")
    if kind in ("xz", "lzma"):
        return lzma.LZMAFile(fp, mode="rb")  # FORMAT_AUTO: .xz and LZMA-alone
    if kind == "lz4":
        try:
            import lz4.frame  # type: ignore[import-untyped]
        except ImportError:
            raise _MissingModule("lz4") from None
        return lz4.frame.LZ4FrameFile(fp, mode="rb")  # type: ignore[no-any-return]
    if kind == "zstd":
        try:
            import zstandard
        except ImportError:
            raise _MissingModule("zstandard") from None
        return zstandard.ZstdDecompressor().stream_reader(fp, read_across_frames=True)
    if kind == "joblib-zfile":
        # "ZF" and the 19-character hexadecimal length; joblib <= 0.8.4 on Python 2 wrote one
        # space more, which joblib's read_zfile skips (zlib data never starts with a space)
        fp.seek(21)
        if fp.read(1) != b" ":
            fp.seek(21)
    return io.BufferedReader(_ZlibReader(fp))


def _decode_errors(kind: str) -> tuple[type[BaseException], ...]:
    import lzma

    errors: tuple[type[BaseException], ...] = (
        OSError, EOFError, lzma.LZMAError, zlib.error, RuntimeError, ValueError,
    )  # fmt: skip
    if kind == "zstd":
        import zstandard

        errors += (zstandard.ZstdError,)
    return errors


def analyze_compressed(src: Source, ctx: Context) -> str:
    from mlstix.scan.models._sniff import sniff

    kind = sniff(src) or "zlib"
    budget = ctx.budget()
    total = 0
    # the decompressors close what they read when they are closed: give them a view
    raw = io.BufferedReader(Window(src.fp, 0, src.size), 1 << 16)
    try:
        stream = _opener(kind, raw)
    except _MissingModule as exc:
        ctx.malformed("models/unreadable", f"{kind} stream not decompressed: the {exc} module "
                      "is missing (pip install 'mlstix[scan]')", src)  # fmt: skip
        return kind
    with stream, tempfile.SpooledTemporaryFile(max_size=64 << 20) as out:
        try:
            while chunk := stream.read(1 << 20):
                total += len(chunk)
                if total > budget:
                    message = f"{kind} stream decompresses to more than {budget} bytes; not scanned"
                    ctx.hit("models/archive-limit", message, src, limit="max_bytes")
                    return kind
                out.write(chunk)
        except _decode_errors(kind) as exc:
            if kind == "zlib" and total == 0:
                # zlib's two-byte header is what any text starting "x = " or "x^" has: nothing
                # decompresses, so no loader reads anything from it; not a zlib file
                return kind
            # what was decompressed is still scanned: a loader reads it before the fault
            ctx.malformed("models/archive-anomaly", f"{kind} stream is corrupt: {exc}", src,
                          quirk=f"{kind} stream is corrupt")  # fmt: skip
        ctx.decompressed += total
        out.seek(0)
        inner = Source(out, total, src.name, src.member, src.depth + 1)
        inner_kind = ctx.scan(inner)
    return f"{kind}+{inner_kind}" if inner_kind else kind
