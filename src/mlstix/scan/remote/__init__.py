"""Scanning models where they live: object stores (S3, Cloud Storage, Azure Blob Storage) and
the Hugging Face Hub, through fsspec, fetching by range only what the analysis reads, with an
incremental state and a Ray executor for a whole organisation's model store.

``scan_remote(["s3://bucket/prefix"], kb, ScanOptions(...), RemoteOptions(...))`` returns the
model scanner's :class:`~mlstix.findings.model.Report`. See ``docs/remote.md``.

The names are loaded on first use: importing a light part of this package (the URL parser, the
listing a rescan forks first) does not import the model scanner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlstix.scan.remote._fs import RemoteError, is_remote
    from mlstix.scan.remote._scan import RemoteOptions, RemoteStats, scan_remote

__all__ = ["RemoteError", "RemoteOptions", "RemoteStats", "is_remote", "scan_remote"]

_WHERE = {"RemoteError": "_fs", "is_remote": "_fs", "RemoteOptions": "_scan",
          "RemoteStats": "_scan", "scan_remote": "_scan"}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
