"""mlstix's hasher gives the `model-signing` library's manifest, item for item, on every setting."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from mlstix.integrity._fasthash import Cancelled, hash_model
from mlstix.integrity.hashing import HashOptions, build_hashing_config


@pytest.fixture
def odd_model(tmp_path: Path) -> Path:
    model = tmp_path / "odd"
    (model / "sub" / "deeper").mkdir(parents=True)
    (model / "weights.bin").write_bytes(os.urandom(2_500_001))
    (model / "empty.bin").write_bytes(b"")
    (model / "a-b").write_text("sorts differently as a path and as a string")
    (model / "sub" / "deeper" / "x.txt").write_text("x")
    (model / ".gitignore").write_text("*.tmp")
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_text("ref")
    return model


SETTINGS = [
    HashOptions(),
    HashOptions(algorithm="blake2b"),
    HashOptions(algorithm="blake3"),
    HashOptions(algorithm="blake3", workers=1),
    HashOptions(shard_size=1_000_000),
    HashOptions(algorithm="blake2b", shard_size=999_999, chunk_size=4096, workers=3),
    HashOptions(shard_size=100_003, chunk_size=7_000),
    HashOptions(ignore_paths=("sub", "a-b")),
    HashOptions(ignore_git_paths=False),
    HashOptions(chunk_size=0),
]


def _normalized(serialization: dict) -> dict:
    return {k: sorted(v) if isinstance(v, list) else v for k, v in serialization.items()}


@pytest.mark.parametrize("options", SETTINGS, ids=repr)
def test_same_manifest_as_the_library(odd_model, options):
    reference = build_hashing_config(options, odd_model).hash(odd_model)
    ours = hash_model(odd_model, options).library_manifest()
    assert ours == reference  # every identifier and digest (with its algorithm name)
    assert [(r.identifier, r.digest.algorithm) for r in ours.resource_descriptors()] == [
        (r.identifier, r.digest.algorithm) for r in reference.resource_descriptors()
    ]
    assert _normalized(ours.serialization_type) == _normalized(reference.serialization_type)
    assert ours.model_name == reference.model_name


def test_single_file_model(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + os.urandom(5000))
    for options in (HashOptions(), HashOptions(shard_size=1024)):
        reference = build_hashing_config(options, path).hash(path)
        assert hash_model(path, options).library_manifest() == reference


def test_symlink_refused_with_the_library_message(odd_model):
    (odd_model / "link").symlink_to(odd_model / "a-b")
    with pytest.raises(ValueError, match="because it is a symlink"):
        hash_model(odd_model, HashOptions())
    reference = build_hashing_config(HashOptions(allow_symlinks=True), odd_model).hash(odd_model)
    assert hash_model(odd_model, HashOptions(allow_symlinks=True)).library_manifest() == reference


def test_cancel_stops_the_work(odd_model):
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        hash_model(odd_model, HashOptions(chunk_size=1024), stop=stop)


@pytest.mark.parametrize("overlap", [True, False])
def test_started_job_gives_the_same_manifest_either_way(odd_model, overlap):
    from mlstix.integrity._fasthash import start_hashing

    job = start_hashing(odd_model, HashOptions(), [], overlap=overlap)
    assert job.result().hex() == hash_model(odd_model, HashOptions()).hex()
    job.cancel()  # harmless once done


def test_errors_surface_from_the_background_thread(odd_model):
    from mlstix.integrity._fasthash import start_hashing

    (odd_model / "link").symlink_to(odd_model / "a-b")
    job = start_hashing(odd_model, HashOptions(), [], overlap=True)
    with pytest.raises(ValueError, match="symlink"):
        job.result()


def test_a_failing_caller_does_not_wait_for_the_running_reads() -> None:
    """Ctrl-C during `mlstix bom` of a large model exited only after every running file was
    hashed (2 s and more): the executor's `with` waited for them. The pool now tells the
    running reads to stop and leaves without them."""
    import time

    from mlstix.integrity import _fasthash

    started = threading.Event()
    seen_halt = threading.Event()

    def slow_read(halt: threading.Event) -> None:
        started.set()
        if halt.wait(timeout=10):
            seen_halt.set()

    begin = time.monotonic()
    with pytest.raises(KeyboardInterrupt), _fasthash._pool(2, _fasthash._NEVER) as (pool, halt):
        pool.submit(slow_read, halt)
        assert started.wait(timeout=5)
        raise KeyboardInterrupt
    assert time.monotonic() - begin < 5
    assert seen_halt.wait(timeout=5)
    assert not _fasthash._NEVER.is_set()  # the module's shared "never" event is left alone
