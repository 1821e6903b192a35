"""How a model is hashed for signing and verification (OpenSSF model-signing serialization).

The `model-signing` library records the serialization in the signed in-toto statement
(``predicate.serialization``: method ``files`` or ``shards``, ``hash_type``, ``shard_size``,
``allow_symlinks``, ``ignore_paths``) so a verifier can recompute it. Its command line always
hashes whole files with SHA-256; :class:`HashOptions` exposes what its API offers besides:
BLAKE2b and BLAKE3, sharding with a shard size, the number of parallel workers, the read size,
and ignored paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlstix.errors import UsageError
from mlstix.integrity import _library

__all__ = [
    "ALGORITHMS",
    "GIT_PATHS",
    "HashOptions",
    "build_hashing_config",
    "options_from_serialization",
    "relative_ignores",
]

Algorithm = Literal["sha256", "blake2b", "blake3"]
ALGORITHMS: tuple[Algorithm, ...] = ("sha256", "blake2b", "blake3")

# What the library itself calls each algorithm, in its API and in the statement.
_LibraryAlgorithm = Literal["sha256", "blake2", "blake3"]
_LIBRARY_NAME: Mapping[str, _LibraryAlgorithm] = {
    "sha256": "sha256",
    "blake2b": "blake2",
    "blake3": "blake3",
}
_FROM_STATEMENT: Mapping[str, Algorithm] = {
    "sha256": "sha256",
    "blake2": "blake2b",
    "blake2b": "blake2b",
    "blake3": "blake3",
}

# The library ignores these by default (``ignore_git_paths=True``).
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")

_DEFAULT_CHUNK = 1 << 20


@dataclass(frozen=True)
class HashOptions:
    """The hashing settings of one signing or verification.

    ``shard_size`` ``None`` hashes whole files; a number hashes fixed-size shards of every file
    in parallel (a different manifest: the verifier reads it from the signature). ``workers``
    ``None`` lets the library choose (all cores). ``ignore_paths`` are relative to the model.
    """

    algorithm: Algorithm = "sha256"
    shard_size: int | None = None
    workers: int | None = None
    chunk_size: int = _DEFAULT_CHUNK
    ignore_paths: tuple[str, ...] = field(default_factory=tuple)
    ignore_git_paths: bool = True
    allow_symlinks: bool = False

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise UsageError(
                f"unknown hash algorithm {self.algorithm!r}",
                hint=f"choose one of {', '.join(ALGORITHMS)}",
            )
        if self.shard_size is not None and self.shard_size <= 0:
            raise UsageError(
                f"shard size must be a positive number of bytes, not {self.shard_size}"
            )
        if self.workers is not None and self.workers <= 0:
            raise UsageError(f"the number of workers must be at least 1, not {self.workers}")
        if self.chunk_size < 0:
            raise UsageError(f"the read size must not be negative, not {self.chunk_size}")

    @property
    def method(self) -> str:
        """``files`` or ``shards``, as the statement names it (BLAKE3 never shards)."""
        return "shards" if self.shard_size is not None and self.algorithm != "blake3" else "files"


def relative_ignores(model_path: Path, paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """``paths`` as paths relative to the model folder, as the signature records them.

    A relative path is taken relative to the model; an absolute one must lie inside it.
    """
    root = model_path.resolve()
    out: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_absolute():
            resolved = path.resolve()
            if resolved == root or not resolved.is_relative_to(root):
                raise UsageError(f"ignore path {raw} is not inside the model {model_path}")
            out.add(resolved.relative_to(root))
            continue
        norm = Path(os.path.normpath(path))
        if norm.parts[:1] == ("..",) or norm == Path():
            raise UsageError(
                f"ignore path {raw} is not inside the model {model_path}",
                hint="give ignore paths relative to the model folder",
            )
        out.add(norm)
    return sorted(out)


def build_hashing_config(
    options: HashOptions, model_path: Path, extra_ignores: Iterable[Path] = ()
) -> Any:
    """The library's own ``model_signing.hashing.Config`` for ``options``.

    mlstix hashes with :mod:`mlstix.integrity._fasthash`, which produces the same manifest
    without waiting for the library to load; the tests hold the two equal with this reference.
    """
    _library.prepare()
    from model_signing import hashing

    algorithm = _LIBRARY_NAME[options.algorithm]
    config = hashing.Config()  # type: ignore[no-untyped-call]
    if options.method == "shards":
        assert options.shard_size is not None
        config.use_shard_serialization(
            hashing_algorithm=algorithm,
            shard_size=options.shard_size,
            chunk_size=options.chunk_size,
            max_workers=options.workers,
            allow_symlinks=options.allow_symlinks,
        )
    else:
        config.use_file_serialization(
            hashing_algorithm=algorithm,
            chunk_size=options.chunk_size,
            max_workers=options.workers,
            allow_symlinks=options.allow_symlinks,
        )
    ignored = [*relative_ignores(model_path, options.ignore_paths), *extra_ignores]
    config.set_ignored_paths(paths=ignored, ignore_git_paths=options.ignore_git_paths)
    config.set_allow_symlinks(options.allow_symlinks)
    return config


def options_from_serialization(
    serialization: Mapping[str, Any],
    *,
    workers: int | None = None,
    chunk_size: int = _DEFAULT_CHUNK,
) -> HashOptions:
    """The options a signature's ``predicate.serialization`` records, to hash again alike."""
    method = serialization.get("method")
    hash_type = str(serialization.get("hash_type", ""))
    algorithm = _FROM_STATEMENT.get(hash_type)
    if algorithm is None:
        raise ValueError(f"the signature uses an unsupported hash algorithm {hash_type!r}")
    shard_size: int | None = None
    if method == "shards":
        shard_size = int(serialization["shard_size"])
    elif method != "files":
        raise ValueError(f"the signature uses an unknown serialization method {method!r}")
    # like the library, skip recorded ignore paths that would leave the model folder
    ignores = [
        p
        for p in serialization.get("ignore_paths") or []
        if isinstance(p, str) and not Path(p).is_absolute() and ".." not in Path(p).parts
    ]
    return HashOptions(
        algorithm=algorithm,
        shard_size=shard_size,
        workers=workers,
        chunk_size=chunk_size,
        ignore_paths=tuple(str(p) for p in ignores),
        # the recorded list already holds the git paths when signing ignored them
        ignore_git_paths=False,
        allow_symlinks=bool(serialization.get("allow_symlinks", False)),
    )
