"""Reads pinned to the version of an object that was listed, so that a writer replacing the
object while it is analysed cannot make one scan see two objects (a benign header from the
first read, a hostile member from a later one).

Every range read of one object names the listed version, through each store's own client:

- S3 (s3fs' aiobotocore client): ``GetObject`` with ``IfMatch`` on the listed ETag and
  ``IfUnmodifiedSince`` the listed time (an ETag is an MD5, which a collision can match);
  once a response carries a ``VersionId`` (a versioned bucket), later reads name that
  ``VersionId`` instead, so they read the listed bytes even after an overwrite. An object
  replaced before its first read is found among the bucket's versions when it keeps them.
- Cloud Storage (gcsfs' session): the ``generation`` query parameter of the media download
  (a replaced generation is 404 unless the bucket keeps versions), and the response's
  ``x-goog-generation`` must name it.
- Azure Blob Storage (adlfs' ``BlobServiceClient``): ``download_blob`` with the listed ETag
  and ``MatchConditions.IfNotModified`` (``If-Match``).
- The Hugging Face Hub: the revision is resolved to its commit once (a ``HEAD`` of the file's
  resolve URL, which answers the commit and the file's content id, checked against the
  listing), and every read goes to ``org/model@<commit>/path``: a commit never changes.

A store that answers "precondition failed", or no longer has the pinned version, makes the
read an :class:`ObjectChanged` error: the object is an ``errors`` entry, never a mixed read.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

__all__ = ["ObjectChanged", "Pin", "hub_pinned_path", "listed_version", "pin_for", "protocol_of"]


class ObjectChanged(OSError):
    """The store no longer serves the version that was listed."""


def _changed(what: str) -> ObjectChanged:
    return ObjectChanged(f"changed while it was read (the listed {what} is gone); not scanned")


def listed_version(protocol: str, info: dict[str, Any]) -> str:
    """The version of a listed object that its reads name: ``etag:"..."`` (S3, Azure),
    ``versionId:...`` (an S3 or Azure listing that carries one), ``generation:N`` (Cloud
    Storage); empty where reads pin themselves (the Hub's commit) or cannot pin."""
    if protocol == "gcs" and info.get("generation"):
        return f"generation:{info['generation']}"
    if protocol in ("s3", "az"):
        version = info.get("VersionId") or info.get("version_id")
        if version and version != "null":
            return f"versionId:{version}"
        etag = info.get("ETag") or info.get("etag")
        modified = info.get("LastModified")  # S3: an ETag (an MD5) can be matched by a collision
        if etag and isinstance(modified, datetime.datetime):
            return f'etag:"{str(etag).strip(chr(34))}" modified:{modified.isoformat()}'
        if etag:
            return f'etag:"{str(etag).strip(chr(34))}"'
    return ""


class Pin:
    """Reads of one object at one version; ``version`` is what the report names."""

    version = ""

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:  # pragma: no cover
        raise NotImplementedError


def _run(fs: AbstractFileSystem, coros: list[Any]) -> list[Any]:
    import asyncio

    from fsspec.asyn import sync  # type: ignore[import-untyped]

    async def gather() -> list[Any]:
        return list(await asyncio.gather(*coros))

    return list(sync(fs.loop, gather))


class _S3(Pin):
    def __init__(self, fs: AbstractFileSystem, path: str, listed: str) -> None:
        self.fs = fs
        self.bucket, self.key, _ = fs.split_path(path)
        self.version = listed
        listed, _, modified = listed.partition(" modified:")
        kind, _, value = listed.partition(":")
        self.etag = value if kind == "etag" else None
        self.modified = datetime.datetime.fromisoformat(modified) if modified else None
        self.version_id = value if kind == "versionId" else None

    async def _one(self, start: int, end: int, version_id: str | None) -> bytes:
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        kw: dict[str, Any] = {"Range": f"bytes={start}-{end - 1}"}
        if version_id:
            kw["VersionId"] = version_id
        else:  # the current object, if it is still the listed one
            kw["IfMatch"] = self.etag
            if self.modified:
                kw["IfUnmodifiedSince"] = self.modified
        try:
            resp = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=self.key, **kw)
        except OSError as exc:
            cause = exc.__cause__
            code = cause.response["Error"].get("Code") if isinstance(cause, ClientError) else None
            if code in ("PreconditionFailed", "412") and not version_id:
                found = await self._listed_version_id()
                if found:  # a versioned bucket still has the listed object
                    self.version_id, self.version = found, f"versionId:{found}"
                    return await self._one(start, end, found)
                raise _changed(f"ETag {self.etag}") from None
            if version_id and isinstance(exc, FileNotFoundError):
                raise _changed(f"VersionId {version_id}") from None
            raise
        try:
            if not self.version_id and resp.get("VersionId") not in (None, "", "null"):
                self.version_id = str(resp["VersionId"])
                self.version = f"versionId:{self.version_id}"
            return bytes(await resp["Body"].read())
        finally:
            resp["Body"].close()

    async def _listed_version_id(self) -> str | None:
        """The VersionId of the listed object in a versioned bucket (the version whose ETag
        and modification time are the listed ones), ``None`` where it is gone."""
        try:
            resp = await self.fs._call_s3(
                "list_object_versions", Bucket=self.bucket, Prefix=self.key, MaxKeys=1000
            )
        except OSError:
            return None
        for v in resp.get("Versions", []):
            same_time = self.modified is None or v.get("LastModified") == self.modified
            if v.get("Key") == self.key and v.get("ETag") == self.etag and same_time:
                found = v.get("VersionId")
                return str(found) if found not in (None, "", "null") else None
        return None

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        # concurrently: until a response names a VersionId, the conditions pin each read
        return _run(self.fs, [self._one(s, e, self.version_id) for s, e in ranges])


class _Gcs(Pin):
    def __init__(self, fs: AbstractFileSystem, path: str, listed: str) -> None:
        self.fs = fs
        self.path = path
        self.generation = listed.partition(":")[2]
        self.version = listed

    async def _one(self, start: int, end: int) -> bytes:
        gen = self.generation
        url = self.fs.url(self.path, generation=gen)
        try:
            headers, data = await self.fs._call(
                "GET", url, headers={"Range": f"bytes={start}-{end - 1}"}
            )
        except FileNotFoundError:  # the generation was replaced (and the bucket keeps no others)
            raise _changed(f"generation {gen}") from None
        served = headers.get("x-goog-generation")
        if served and served != gen:  # a server that ignored the parameters
            raise _changed(f"generation {gen}")
        return bytes(data)

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return _run(self.fs, [self._one(s, e) for s, e in ranges])


class _Azure(Pin):
    def __init__(self, fs: AbstractFileSystem, path: str, listed: str) -> None:
        self.fs = fs
        self.container, self.blob, _ = fs.split_path(path)
        kind, _, value = listed.partition(":")
        self.etag = value if kind == "etag" else None
        self.version_id = value if kind == "versionId" else None
        self.version = listed

    async def _one(self, start: int, end: int) -> bytes:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        kw: dict[str, Any] = dict(getattr(self.fs, "_timeout_kwargs", {}))
        if self.etag:
            kw |= {"etag": self.etag, "match_condition": MatchConditions.IfNotModified}
        if self.version_id:
            kw["version_id"] = self.version_id
        client = self.fs.service_client.get_blob_client(container=self.container, blob=self.blob)
        async with client:
            try:
                stream = await client.download_blob(offset=start, length=end - start, **kw)
                return bytes(await stream.readall())
            except ResourceModifiedError:
                raise _changed(f"ETag {self.etag}") from None
            except ResourceNotFoundError:
                if self.version_id:
                    raise _changed(f"version {self.version_id}") from None
                raise FileNotFoundError(f"{self.container}/{self.blob}") from None

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return _run(self.fs, [self._one(s, e) for s, e in ranges])


def hub_pinned_path(fs: AbstractFileSystem, path: str, identity: str) -> tuple[str, str]:
    """The Hub path of ``path`` at the commit its revision names now, checked against the
    listed ``identity`` (size and LFS SHA-256 or git blob id), and that commit."""
    from huggingface_hub import constants, get_hf_file_metadata

    resolved = fs.resolve_path(path)
    meta = get_hf_file_metadata(fs.url(path), token=fs.token)
    commit = meta.commit_hash
    if not commit:
        raise ObjectChanged("the Hub did not say which commit it served; not scanned")
    if f"{meta.size}:{meta.etag}" != identity:
        raise ObjectChanged(
            f"changed since it was listed (the revision now points at commit {commit}, whose "
            "file differs); not scanned"
        )
    repo = constants.REPO_TYPES_URL_PREFIXES.get(resolved.repo_type, "") + resolved.repo_id
    return f"{repo}@{commit}/{resolved.path_in_repo}", f"commit:{commit}"


def protocol_of(fs: AbstractFileSystem) -> str:
    protocol = getattr(fs, "protocol", "")
    return str(protocol if isinstance(protocol, str) else protocol[0])


def pin_for(fs: AbstractFileSystem, path: str, listed: str) -> Pin | None:
    """The pinned reader of an object of an asynchronous store (S3, Cloud Storage, Azure);
    ``None`` where the listing carried no version to pin to."""
    protocol = protocol_of(fs)
    if not listed:
        return None
    if protocol in ("s3", "s3a"):
        return _S3(fs, path, listed)
    if protocol in ("gcs", "gs"):
        return _Gcs(fs, path, listed)
    if protocol in ("az", "abfs", "abfss"):
        return _Azure(fs, path, listed)
    return None
