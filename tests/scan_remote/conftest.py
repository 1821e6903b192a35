from __future__ import annotations

from collections.abc import Iterator

import pytest

fsspec = pytest.importorskip("fsspec", reason="mlstix[remote] is not installed")


@pytest.fixture
def memfs() -> Iterator[object]:
    """fsspec's in-memory store, emptied after the test (objects survive a fork)."""
    from fsspec.implementations.memory import MemoryFileSystem

    fs = fsspec.filesystem("memory")
    yield fs
    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs[:] = [""]
