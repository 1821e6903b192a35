"""Hashing a model exactly as `model-signing` 1.x serializes it, started before the library loads.

Why not the library's own hasher: importing ``model_signing`` loads Sigstore, protobuf and
OpenSSL bindings (~0.16 s of single-threaded Python even through ``_library.prepare``), and its
hashing cannot start before that.
Here the files are hashed by threads that release the GIL (``hashlib``, ``blake3``) while the
main thread imports the library and loads keys, so the import costs little wall time on any
machine with two cores (see :func:`spare_cpu`). Files are read with ``readinto`` into one
reused buffer per task.

The output is the library's manifest, item for item (tests compare both on every setting):

- files are found with ``model_path.glob("**/*")``; each path is checked first (a symlink is
  refused unless allowed; anything not a file or folder is refused), then skipped when it lies
  under an ignored path; identifiers are POSIX paths relative to the model (``.`` for a
  single-file model);
- ``files``: one digest per file, named ``sha256``, ``blake2b`` or ``blake3``;
- ``shards``: one digest per ``[start, end)`` slice of ``shard_size`` bytes, identifier
  ``path:start:end``, named ``<algorithm>-sharded-<shard_size>``; empty files have no shard;
- ``serialization`` records the method, ``hash_type``, ``allow_symlinks``, ``shard_size`` and
  the ignored paths relative to the model (git paths included when ignored).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlstix.integrity import _library
from mlstix.integrity.hashing import GIT_PATHS, HashOptions, relative_ignores

__all__ = ["Cancelled", "HashedModel", "hash_model", "start_hashing"]


@dataclass(frozen=True)
class HashedModel:
    """A fresh manifest: ``digests`` maps identifier → (algorithm name, digest bytes)."""

    model_name: str
    serialization: dict[str, Any]
    digests: dict[str, tuple[str, bytes]]

    def hex(self) -> dict[str, str]:
        return {name: digest.hex() for name, (_, digest) in self.digests.items()}

    def library_manifest(self) -> Any:
        """The same manifest as a ``model_signing.manifest.Manifest`` (imports the library)."""
        _library.prepare()
        from model_signing import manifest
        from model_signing._hashing.hashing import Digest

        serialization = manifest.SerializationType.from_args(self.serialization)
        items = [
            serialization.new_item(name, Digest(algorithm, value))
            for name, (algorithm, value) in self.digests.items()
        ]
        return manifest.Manifest(self.model_name, items, serialization)


def _check(path: Path, allow_symlinks: bool) -> None:
    # the library's serialization.check_file_or_directory, with its wording
    if not allow_symlinks and path.is_symlink():
        raise ValueError(
            f"Cannot use '{path}' because it is a symlink. This behavior can be changed with "
            "`allow_symlinks`."
        )
    if not (path.is_file() or path.is_dir()):
        raise ValueError(
            f"Cannot use '{path}' as file or directory. It could be a special file, it could "
            "be missing, or there might be a permission issue."
        )


def _files(model: Path, ignored: list[Path], allow_symlinks: bool) -> list[Path]:
    out = []
    for path in itertools.chain((model,), model.glob("**/*")):
        _check(path, allow_symlinks)
        if path.is_file() and not any(path.is_relative_to(i) for i in ignored):
            out.append(path)
    return out


def _new(algorithm: str) -> Any:
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "blake2b":
        return hashlib.blake2b()
    import blake3

    return blake3.blake3()


class Cancelled(Exception):
    """Hashing was stopped because its result is no longer needed."""


_NEVER = threading.Event()


def _digest_range(
    path: Path,
    algorithm: str,
    start: int,
    end: int | None,
    buffer: int,
    stop: threading.Event = _NEVER,
) -> bytes:
    hasher = _new(algorithm)
    view = memoryview(bytearray(buffer))
    with path.open("rb", buffering=0) as fh:
        if start:
            fh.seek(start)
        left = end - start if end is not None else None
        while left is None or left > 0:
            want = view if left is None or left >= buffer else view[:left]
            count = fh.readinto(want)
            if not count:
                break
            if stop.is_set():
                raise Cancelled
            hasher.update(want[:count])
            if left is not None:
                left -= count
    return bytes(hasher.digest())


def _blake3_file(path: Path, workers: int | None) -> bytes:
    import blake3

    hasher = blake3.blake3(max_threads=workers or blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return bytes(hasher.digest())


def _serialization(options: HashOptions, recorded_ignores: list[Path]) -> dict[str, Any]:
    result: dict[str, Any] = {"method": options.method, "hash_type": options.algorithm}
    if options.method == "shards":
        result["shard_size"] = options.shard_size
    result["allow_symlinks"] = options.allow_symlinks
    if recorded_ignores:
        result["ignore_paths"] = sorted({str(p) for p in recorded_ignores})
    return result


@contextmanager
def _pool(
    workers: int, stop: threading.Event
) -> Iterator[tuple[ThreadPoolExecutor, threading.Event]]:
    """A thread pool that, when the caller fails (Ctrl-C, a file that cannot be read), stops
    the reads still running at their next chunk and does not wait for them: the ``with``
    form of the executor waited for every running file (2 s of a large model after Ctrl-C)."""
    halt = threading.Event() if stop is _NEVER else stop
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        yield pool, halt
    except BaseException:
        halt.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def hash_model(
    model: Path,
    options: HashOptions,
    extra_ignores: Sequence[Path] = (),
    stop: threading.Event = _NEVER,
    max_items: int | None = None,
) -> HashedModel:
    """Hash ``model`` as the library would with ``options`` (see the module docstring).

    ``max_items`` bounds the number of shards: a verifier passes a bound from the signature it
    checks, so an unauthenticated statement with a tiny shard size cannot make it queue
    millions of tasks.
    """
    rel = [*relative_ignores(model, options.ignore_paths), *extra_ignores]
    if options.ignore_git_paths:
        rel += [Path(p) for p in GIT_PATHS]
    files = _files(model, [model / p for p in rel], options.allow_symlinks)
    # the library's default (concurrent.futures): more threads than cores keeps reads queued
    workers = options.workers or min(32, (os.cpu_count() or 1) + 4)
    buffer = options.chunk_size or (8 << 20)
    name = model.name if model.name not in ("", "..") else model.resolve().name
    name = os.fsencode(name).decode("utf-8", "backslashreplace")  # only shown; protobuf: UTF-8

    def ident(path: Path) -> str:
        return str(PurePosixPath(path.relative_to(model)))

    digests: dict[str, tuple[str, bytes]] = {}
    if options.algorithm == "blake3":  # parallel inside each file, as the library does
        for path in files:
            if stop.is_set():
                raise Cancelled
            digests[ident(path)] = ("blake3", _blake3_file(path, options.workers))
    elif options.method == "files":
        with _pool(workers, stop) as (pool, halt):
            jobs = {
                ident(p): pool.submit(_digest_range, p, options.algorithm, 0, None, buffer, halt)
                for p in files
            }
            digests = {k: (options.algorithm, job.result()) for k, job in jobs.items()}
    else:
        assert options.shard_size is not None
        size = options.shard_size
        label = f"{options.algorithm}-sharded-{size}"
        plan: list[tuple[Path, int, int]] = []
        for path in files:
            length = path.stat().st_size
            if max_items is not None and len(plan) + -(-length // size) > max_items:
                raise ValueError(
                    f"the model has more than {max_items} shards of {size} bytes, far more "
                    "than the signature lists"
                )
            plan.extend(
                (path, start, min(start + size, length)) for start in range(0, length, size)
            )
        with _pool(workers, stop) as (pool, halt):
            shard_jobs: dict[str, Future[bytes]] = {
                f"{ident(path)}:{start}:{end}": pool.submit(
                    _digest_range, path, options.algorithm, start, end, min(buffer, size), halt
                )
                for path, start, end in plan
            }
            digests = {k: (label, job.result()) for k, job in shard_jobs.items()}
    return HashedModel(name, _serialization(options, rel), digests)


class _Running:
    """A hashing job on a background thread; :meth:`result` joins it and re-raises."""

    def __init__(self, work: Callable[[threading.Event], HashedModel]) -> None:
        self._stop = threading.Event()
        self._result: HashedModel | None = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._result = work(self._stop)
            except BaseException as exc:  # handed to the caller in result()
                self._error = exc

        self._thread = threading.Thread(target=run, name="mlstix-hash", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop early (the caller failed) and wait for the workers to notice."""
        self._stop.set()
        self._thread.join()

    def result(self) -> HashedModel:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


class _Deferred:
    """A hashing job that runs when :meth:`result` is called, on the caller's thread."""

    def __init__(self, work: Callable[[threading.Event], HashedModel]) -> None:
        self._work = work

    def cancel(self) -> None:
        """Nothing runs yet, so nothing to stop."""

    def result(self) -> HashedModel:
        return self._work(_NEVER)


def spare_cpu() -> bool:
    """Whether hashing should overlap the library import: on any machine with two cores.

    The import is one Python thread; the hashing runs in C with the GIL released, so the two
    share the cores well even when the hashing keeps both busy. Measured with
    ``benchmarks/sign_verify.py --size 4G`` on 2 cores: blake3 sign 1.03 s -> 0.96 s and verify
    1.06 s -> 0.88 s, sha256 unchanged (1.65 s) when overlapping regardless of the load average.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) >= 2


def start_hashing(
    model: Path,
    options: HashOptions,
    extra_ignores: Sequence[Path],
    max_items: int | None = None,
    *,
    overlap: bool | None = None,
) -> _Running | _Deferred:
    """Begin :func:`hash_model`: on a background thread when a core is spare (``overlap``
    ``None`` decides with :func:`spare_cpu`), otherwise when the result is asked for."""

    def work(stop: threading.Event) -> HashedModel:
        return hash_model(model, options, extra_ignores, stop, max_items)

    if overlap is None:
        overlap = spare_cpu()
    return _Running(work) if overlap else _Deferred(work)
