"""Class 2 of issue 10, proven differentially: hypothesis wraps hostile pickles in chains of
what loaders unwrap (every compressor joblib and pandas infer, zip members under any folder in
any case, tar members, a FRAME instead of PROTO), the real libraries unwrap the same bytes
layer by layer, the differential harness unpickles the result in its sandbox with recording
stand-ins, and every
non-allowlisted callable the real reader invokes must be reported by mlstix at high or above."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlstix.findings.model import Severity
from mlstix.scan.models import Limits
from mlstix.scan.models._walk import Target
from mlstix.scan.models.engine import scan_file
from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.rules import load_rules

from . import builders as b
from .differential import RealReaders

PAYLOADS = [
    b.call_pickle("os", "system", "id"),
    b.call_pickle("subprocess", "check_output", "id", proto=4),
    b.call_pickle("builtins", "exec", "print(1)", proto=0),
    b.stack_global_pickle("posix", "system", "id"),
]


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def _lz4(data: bytes) -> bytes:
    import lz4.frame

    return bytes(lz4.frame.compress(data))


COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "zlib": zlib.compress,
    "zstd": _zstd,
    "lz4": _lz4,
}


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _framed(data: bytes) -> bytes:
    """PROTO replaced by a FRAME holding the rest: pickle.load needs no PROTO."""
    body = data[2:] if data[:1] == b"\x80" else data
    return b"\x95" + len(body).to_bytes(8, "little") + body


layer = st.one_of(
    st.sampled_from(sorted(COMPRESS)).map(lambda k: ("compress", k)),
    st.tuples(
        st.just("zip"),
        st.sampled_from(["data.pkl", "DATA.PKL", "Data.Pkl"]),
        st.sampled_from(["archive", "x/y", "Top"]),
    ),
    st.tuples(st.just("tar"), st.sampled_from(["pickle", "model.pkl", "a/b/c"])),
)


def _wrap(data: bytes, chain: list[tuple[str, ...]]) -> bytes:
    for step in chain:
        if step[0] == "compress":
            data = COMPRESS[step[1]](data)
        elif step[0] == "zip":
            data = b.zip_bytes({f"{step[2]}/{step[1]}": data}, deflate=True)
        else:
            data = _tar(step[1], data)
    return data


def _zstd_read(data: bytes) -> bytes:
    import zstandard

    return bytes(zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read())


def _lz4_read(data: bytes) -> bytes:
    import lz4.frame

    return bytes(lz4.frame.decompress(data))


DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.decompress,
    "bz2": bz2.decompress,
    "xz": lzma.decompress,
    "lzma": lzma.decompress,
    "zlib": zlib.decompress,
    "zstd": _zstd_read,
    "lz4": _lz4_read,
}


def _unwrap(data: bytes, chain: list[tuple[str, ...]]) -> bytes:
    """The real readers (the libraries joblib, pandas and torch use), outermost layer first.
    Only bytes this test made pass through them; the pickle at the end goes to the sandbox."""
    for step in reversed(chain):
        if step[0] == "compress":
            data = DECOMPRESS[step[1]](data)
        elif step[0] == "zip":
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                data = z.read(f"{step[2]}/{step[1]}")
        else:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                f = tar.extractfile(step[1])
                assert f is not None
                data = f.read()
    return data


@pytest.fixture(scope="module")
def real() -> Iterator[RealReaders]:
    with RealReaders() as readers:
        yield readers


def _reported_high(path: str) -> set[str]:
    rules = load_rules("models")
    res = scan_file(Target(path, path, os.path.dirname(path), os.path.getsize(path)), (),
                    Limits(), hash_file=False)  # fmt: skip
    return {
        str(h.evidence.get("import") or h.evidence.get("call"))
        for h in res.hits
        if rules[h.rule_id].severity >= Severity.HIGH
    }


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=st.sampled_from(PAYLOADS),
    framed=st.booleans(),
    chain=st.lists(layer, min_size=0, max_size=3),
    prefix=st.binary(max_size=64),
)
def test_every_wrapping_a_loader_unwraps(
    real: RealReaders, payload: bytes, framed: bool, chain: list[tuple[str, ...]], prefix: bytes
) -> None:
    inner = _framed(payload) if framed else payload
    data = _wrap(inner, chain)
    if chain and chain[-1][0] == "zip":
        data = prefix + data  # zipfile finds an archive behind any prefix (self-extracting)
    unwrapped = _unwrap(data, chain)
    assert unwrapped == inner
    seen = real.pickle(unwrapped)
    policy = ImportPolicy()
    invoked = {
        e.qualname
        for e in seen.events
        if e.how != "resolve" and e.depth == 0 and policy.verdict(e.module, e.name) != "allowed"
    }
    assert invoked, seen  # every payload really runs something in the real reader
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        reported = _reported_high(f.name)
    missed = {q for q in invoked if q not in reported and not reported & {"*"}}
    assert not missed, (chain, framed, sorted(reported))
