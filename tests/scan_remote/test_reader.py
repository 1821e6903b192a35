"""The range reader under the model scanner: a remote scan sees exactly what a local scan of
the same bytes sees (differential, over the real framework and library files of the model
scanner's tests and over hostile files whose payload hides behind megabytes of data), while it
fetches only what the analysis reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlstix.scan.models import Limits
from mlstix.scan.models._walk import Target
from mlstix.scan.models.engine import FileResult, scan_file
from mlstix.scan.remote._listing import RemoteObject
from mlstix.scan.remote._reader import RangeFile
from mlstix.scan.remote._work import Work, scan_object

from . import registry

REAL = Path(__file__).parents[1] / "scan_models" / "real"


def _obj(fs: Any, name: str, data: bytes) -> RemoteObject:
    fs.pipe(f"/bucket/{name}", data)
    return RemoteObject(f"memory://bucket/{name}", "memory://bucket", f"/bucket/{name}",
                        len(data), "1")  # fmt: skip


def _local(tmp: Path, name: str, data: bytes) -> FileResult:
    path = tmp / name
    path.write_bytes(data)
    return scan_file(Target(str(path), str(path), str(tmp), len(data)), (), Limits(), False)


def _view(res: FileResult) -> tuple[object, ...]:
    hits = sorted((h.rule_id, h.message, h.member, repr(sorted(h.evidence.items())))
                  for h in res.hits)  # fmt: skip
    return res.kind, tuple(hits), res.error


def _corpus() -> list[tuple[str, bytes]]:
    files = sorted(p for p in REAL.rglob("*") if p.is_file() and p.suffix not in (".py", ".json"))
    real = [(p.name, p.read_bytes()) for p in files]
    return real + sorted(registry.hostile().items()) + sorted(registry.benign().items())


@pytest.mark.parametrize(("name", "data"), _corpus(), ids=lambda v: v if isinstance(v, str) else "")
def test_remote_scan_equals_local_scan(tmp_path: Path, memfs: Any, name: str, data: bytes) -> None:
    local = _local(tmp_path, name, data)
    remote = scan_object(_obj(memfs, name, data), Work((), Limits()))
    assert _view(remote.result) == _view(local)
    assert remote.fetched <= max(len(data), 1) * 2  # read-ahead never runs away
    if name in registry.hostile():
        assert any(h.evidence.get("import") == "os.system" for h in remote.result.hits), name


def test_safetensors_shard_fetches_header_and_tail_only(memfs: Any) -> None:
    data = registry.safetensors(16, 1 << 20)
    res = scan_object(_obj(memfs, "model.safetensors", data), Work((), Limits()))
    assert res.result.kind == "safetensors" and not res.result.hits
    assert res.fetched < len(data) / 50
    assert res.requests <= 25


def test_payload_after_the_tensors_is_fetched_by_range(memfs: Any) -> None:
    """data.pkl stored after 8 MiB of tensors: found through the central directory, fetched
    by range; the tensors are not read."""
    data = registry.torch_zip(registry.PAYLOAD, 8 << 20, payload_last=True)
    res = scan_object(_obj(memfs, "evil.pt", data), Work((), Limits()))
    assert {h.evidence.get("import") for h in res.result.hits} >= {"os.system"}
    assert res.fetched < 512 << 10


def test_pickles_are_read_whole(memfs: Any) -> None:
    data = registry.PAYLOAD[:-1] + b"N" * 3_000_000 + b"0."  # a long run of opcodes, then STOP
    res = scan_object(_obj(memfs, "model.pkl", data), Work((), Limits()))
    assert res.fetched >= len(data)


def test_hashing_reads_everything_and_matches_sha256(memfs: Any) -> None:
    import hashlib

    data = registry.safetensors(3, 1 << 20)
    res = scan_object(_obj(memfs, "m.safetensors", data), Work((), Limits(), hash_file=True))
    assert res.result.sha256 == hashlib.sha256(data).hexdigest()
    assert res.fetched >= len(data)


def test_byte_cap_makes_an_error_never_a_clean_result(memfs: Any) -> None:
    data = registry.torch_zip(registry.PAYLOAD, 4 << 20, payload_last=True)
    res = scan_object(_obj(memfs, "evil.pt", data), Work((), Limits(), max_bytes=50_000))
    assert res.result.error and "--max-bytes-per-file" in res.result.error
    assert [h.rule_id for h in res.result.hits] == ["models/unreadable"]
    assert res.fetched <= 50_000


def test_object_shorter_than_listed_is_an_error(memfs: Any) -> None:
    """The object changed between listing and reading: the short read is reported."""
    data = registry.safetensors(2, 1 << 20)
    obj = _obj(memfs, "m.safetensors", data)
    memfs.pipe("/bucket/m.safetensors", data[: len(data) // 2])
    res = scan_object(obj, Work((), Limits()))
    assert res.result.error and "changed" in res.result.error
    assert [h.rule_id for h in res.result.hits] == ["models/unreadable"]


def test_a_failing_store_is_an_error_for_that_object(memfs: Any) -> None:
    class Broken:
        async_impl = True

        def cat_file(self, *a: object, **k: object) -> bytes:
            raise ConnectionResetError(104, "Connection reset by peer")

        cat_ranges = cat_file

    reader = RangeFile(Broken(), "b/x", 10 << 20)
    with pytest.raises(OSError, match="Connection reset"):
        reader.prefetch()


def test_reads_across_cached_spans_are_exact(memfs: Any) -> None:
    data = bytes(range(256)) * (12 << 12)  # 3 MiB
    memfs.pipe("/bucket/x", data)
    f = RangeFile(memfs, "/bucket/x", len(data))
    f.prefetch()
    for start, n in ((0, 10), (65530, 20), (1 << 20, 5000), (len(data) - 70_000, 70_000),
                     (100, 3 << 20), (len(data) - 5, 100)):  # fmt: skip
        f.seek(start)
        assert f.read(n) == data[start : start + n]
    assert f.fetched <= len(data) + (64 << 10) * 2


def test_cache_stays_bounded_and_reads_stay_exact(memfs: Any, monkeypatch: Any) -> None:
    """Hashing (or a whole pickle) streams through the cache: it is evicted, the head, tail
    and probes stay, and every read still returns the object's bytes."""
    import hashlib
    import random

    from mlstix.scan.remote import _reader

    monkeypatch.setattr(_reader, "_CACHE_MAX", 1 << 20)
    data = random.Random(3).randbytes(12 << 20)
    memfs.pipe("/bucket/big", data)
    f = RangeFile(memfs, "/bucket/big", len(data))
    f.prefetch()
    peak = 0
    digest = hashlib.sha256()
    while chunk := f.read(1 << 18):
        digest.update(chunk)
        peak = max(peak, f._cached)
    assert digest.digest() == hashlib.sha256(data).digest()
    assert peak <= (1 << 20) + (16 << 20)  # the cap plus one read-ahead span
    rnd = random.Random(4)
    for _ in range(200):
        start = rnd.randrange(len(data))
        n = rnd.choice((1, 8, 4096, 1 << 17, 3 << 20))
        f.seek(start)
        assert f.read(n) == data[start : start + n]
    assert f._cached <= (1 << 20) + (16 << 20)
