"""Remote locations: which URLs are remote, the fsspec filesystem that reads each, and one
error wording for what goes wrong on the way (a missing extra, credentials, an endpoint).

Each filesystem is the maintained fsspec implementation of its store and keeps that store's
standard credential chain and endpoint settings: ``s3://`` s3fs (the AWS SDK chain,
``AWS_ENDPOINT_URL``), ``gs://`` gcsfs (Application Default Credentials,
``STORAGE_EMULATOR_HOST``), ``az://`` adlfs (``AZURE_STORAGE_CONNECTION_STRING`` or
``AZURE_STORAGE_ACCOUNT_NAME`` with ``DefaultAzureCredential``), ``hf://`` the Hugging Face
Hub's own ``HfFileSystem`` (``HF_TOKEN``, ``HF_ENDPOINT``). Nothing here reads credentials
itself: they stay with the libraries and never reach a report or a log line.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlstix.errors import MlstixError, UsageError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

__all__ = [
    "Location",
    "RemoteError",
    "describe_failure",
    "filesystem",
    "is_remote",
    "parse",
    "settings_of",
]


class RemoteError(MlstixError):
    """A remote location could not be listed or read at all (exit 2)."""


# scheme -> (fsspec protocol, module that implements it, where its settings come from)
_SCHEMES: dict[str, tuple[str, str, str]] = {
    "s3": ("s3", "s3fs", "the AWS credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, instance "
           "roles) and AWS_ENDPOINT_URL"),
    "gs": ("gcs", "gcsfs", "Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, "
           "gcloud auth application-default login) and STORAGE_EMULATOR_HOST"),
    "gcs": ("gcs", "gcsfs", "Application Default Credentials and STORAGE_EMULATOR_HOST"),
    "az": ("az", "adlfs", "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with "
           "a DefaultAzureCredential identity"),
    "abfs": ("az", "adlfs", "AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME"),
    "hf": ("hf", "huggingface_hub", "HF_TOKEN (or huggingface-cli login) and HF_ENDPOINT"),
}  # fmt: skip
_TEST_SCHEMES = {"memory": ("memory", "fsspec", "nothing")}  # fsspec's in-memory store, tests


def is_remote(path: str) -> bool:
    """Whether ``path`` names a location in an object store or a model hub."""
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.lower() in _SCHEMES


@dataclass(frozen=True)
class Location:
    """A user's remote path: ``scheme://bucket/prefix`` (``hf://org/model[@revision]``)."""

    scheme: str  # as the user wrote it, lower case: s3, gs, az, hf
    protocol: str  # fsspec protocol
    path: str  # without the scheme, as fsspec names it

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.path}"

    def url_of(self, fs_path: str) -> str:
        """The URL shown in reports for an object path returned by the filesystem."""
        return f"{self.scheme}://{fs_path.lstrip('/')}"


def parse(path: str) -> Location:
    scheme, sep, rest = path.partition("://")
    scheme = scheme.lower()
    table = {**_SCHEMES, **_TEST_SCHEMES}
    if not sep or scheme not in table:
        raise UsageError(f"{path}: not a remote location (s3://, gs://, az://, hf://)")
    rest = rest.strip("/")
    if not rest:
        raise UsageError(f"{path}: names no bucket, container or repository")
    if scheme == "hf" and rest.count("/") < 1:
        raise UsageError(f"{path}: a Hub location is hf://ORG/MODEL[@REVISION][/PATH]")
    return Location(scheme, table[scheme][0], rest)


def settings_of(scheme: str) -> str:
    return {**_SCHEMES, **_TEST_SCHEMES}[scheme][2]


def filesystem(loc: Location) -> AbstractFileSystem:
    """The fsspec filesystem of ``loc``, with its library's own settings. A missing library is
    a :class:`MlstixError` naming the extra to install."""
    module = {**_SCHEMES, **_TEST_SCHEMES}[loc.scheme][1]
    if module == "gcsfs" and os.environ.get("STORAGE_EMULATOR_HOST"):
        # gcsfs >= 2025.9 asks the gRPC Storage Control API for each bucket's layout (zonal,
        # hierarchical); emulators answer only the JSON API, so the question times out (60 s).
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    try:
        import fsspec

        importlib.import_module(module)
    except ImportError as exc:
        raise MlstixError(
            f"{loc.url}: reading {loc.scheme}:// locations needs the Python package "
            f"{exc.name or module!r}, which is not installed",
            hint="pip install 'mlstix[remote]'",
        ) from None
    options: dict[str, Any] = {}
    if loc.protocol == "az" and not any(
        k in os.environ for k in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME")
    ):
        raise RemoteError(
            f"{loc.url}: no Azure storage account given",
            hint="set AZURE_STORAGE_ACCOUNT_NAME (with a DefaultAzureCredential identity) or "
            "AZURE_STORAGE_CONNECTION_STRING",
        )
    if loc.protocol == "az" and "AZURE_STORAGE_CONNECTION_STRING" not in os.environ:
        options["anon"] = False  # adlfs: use DefaultAzureCredential
    return fsspec.filesystem(loc.protocol, **options)


def describe_failure(exc: BaseException) -> str:
    """One line for a library's exception: its class and first line, without credentials (the
    libraries do not put secrets in messages; URLs with query strings are cut)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "?" in text:  # a signed URL's query string carries a signature
        text = text.split("?", 1)[0] + "?…"
    name = type(exc).__name__
    if isinstance(exc, FileNotFoundError):
        return f"not found{': ' + text if text else ''}"
    if isinstance(exc, PermissionError):
        return f"access denied{': ' + text if text else ''}"
    return f"{name}: {text}" if text else name
