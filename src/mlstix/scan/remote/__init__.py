"""Scanning models where they live: object stores (S3, Cloud Storage, Azure Blob Storage) and
the Hugging Face Hub, through fsspec, fetching by range only what the analysis reads, with an
incremental state and a Ray executor for a whole organisation's model store.

``scan_remote(["s3://bucket/prefix"], kb, ScanOptions(...), RemoteOptions(...))`` returns the
model scanner's :class:`~mlstix.findings.model.Report`. See ``docs/remote.md``.
"""

from mlstix.scan.remote._fs import RemoteError, is_remote
from mlstix.scan.remote._scan import RemoteOptions, RemoteStats, scan_remote

__all__ = ["RemoteError", "RemoteOptions", "RemoteStats", "is_remote", "scan_remote"]
