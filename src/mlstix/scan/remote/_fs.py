"""Remote locations: which URLs are remote, the fsspec filesystem that reads each, and one
error wording for what goes wrong on the way (a missing extra, credentials, an endpoint).

Each filesystem is the maintained fsspec implementation of its store and keeps that store's
standard credential chain and endpoint settings: ``s3://`` s3fs (the AWS SDK chain,
``AWS_ENDPOINT_URL``), ``gs://`` gcsfs (Application Default Credentials,
``STORAGE_EMULATOR_HOST``), ``az://`` adlfs (``AZURE_STORAGE_CONNECTION_STRING`` or
``AZURE_STORAGE_ACCOUNT_NAME`` with ``DefaultAzureCredential``), ``hf://`` the Hugging Face
Hub's own ``HfFileSystem`` (``HF_TOKEN``, ``HF_ENDPOINT``). Nothing here reads credentials
itself: they stay with the libraries and never reach a report or a log line.

Before a store is first used in a process, its endpoint (or the proxy that the standard
``HTTPS_PROXY``/``NO_PROXY`` settings send it through) must accept a TCP connection within
:data:`CONNECT_TIMEOUT` seconds: the libraries retry a refused or silent endpoint for half a
minute (gcsfs) to three minutes (adlfs), so an unreachable one is said as such, at once. An
endpoint that connects and then never answers is bounded with each library's own settings
(``MLSTIX_READ_TIMEOUT``, :mod:`mlstix._timeouts`): botocore's ``Config`` for S3, gcsfs'
``requests_timeout`` for Cloud Storage, the azure-storage-blob client's timeouts and retries
for Azure (:mod:`._waits`); the Hub client bounds its own wait (``HF_HUB_ETAG_TIMEOUT``).
"""

from __future__ import annotations

import datetime
import importlib
import os
import sys
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlstix._timeouts import READ_ENV
from mlstix.errors import MlstixError, UsageError
from mlstix.scan.remote._waits import (
    CONNECT_TIMEOUT,
    S3_FS_RETRIES,
    az_timeouts,
    bound_azure,
    gcs_timeout,
    s3_config,
)

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

__all__ = [
    "Location",
    "RemoteError",
    "describe_failure",
    "endpoint_of",
    "filesystem",
    "is_remote",
    "parse",
    "reachable",
    "settings_of",
]


class RemoteError(MlstixError):
    """A remote location could not be listed or read at all (exit 2)."""


_reached: set[tuple[str, int]] = set()  # endpoints that answered in this process


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

        _import(module)
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
    if loc.protocol == "s3":
        options["config_kwargs"] = s3_config()
    if loc.protocol == "gcs":
        options["requests_timeout"] = gcs_timeout()
    if loc.protocol == "az":  # adlfs' own two (for its downloads); the rest in _bound_azure
        az = az_timeouts()
        options.update(connection_timeout=az["connection_timeout"], read_timeout=az["read_timeout"])
    try:
        fs = fsspec.filesystem(loc.protocol, **options)
    except ValueError as exc:  # adlfs: a malformed AZURE_STORAGE_CONNECTION_STRING
        said = " ".join(str(exc).split())[:300]
        raise RemoteError(
            f"{loc.url}: cannot set up {loc.scheme}:// access: {said}",
            hint=f"check {settings_of(loc.scheme)}",
        ) from None
    if loc.protocol == "s3":
        fs.retries = S3_FS_RETRIES  # botocore's own retries (in config_kwargs) do the retrying
        _iso_timestamps(fs)
    if loc.protocol == "az":
        bound_azure(fs)
    endpoint = _shown(_endpoint(fs, loc.protocol))
    if endpoint:
        _endpoints[loc.scheme] = endpoint
        reachable(endpoint, f"{loc.url}: cannot reach", settings_of(loc.scheme))
    return fs


_endpoints: dict[str, str] = {}  # scheme -> where its filesystem sends requests (this process)


def endpoint_of(scheme: str) -> str | None:
    """The endpoint the filesystem of ``scheme`` was made for in this process, if one was."""
    return _endpoints.get(scheme)


# what the S3 stack imports without using it (see _import)
_UNUSED_BY_S3 = ("urllib3.contrib.pyopenssl", "httpx2", "httpx")
_lean = False  # set in the scan's agent only: see lean_imports


def lean_imports() -> None:
    """Import the S3 stack without what s3fs does not use (see :func:`_import`), in this
    process from now on. For a process that runs no other thread while it imports (the scan's
    agent): another thread importing one of those modules meanwhile would find it missing."""
    global _lean
    _lean = True


def _import(module: str) -> None:
    """Import a store's library. Two modules the S3 stack imports go unused by s3fs, and cost
    a sixth of its import where they are installed (50 ms of CPU of a rescan): botocore imports
    urllib3's pyOpenSSL module (with pyOpenSSL and ``cryptography``) only to name the standard
    library's ``SSLContext``, and aiobotocore imports httpx for a backend that s3fs does not
    use (it uses aiohttp). Where nothing imported them yet, they are hidden while s3fs is
    imported: botocore then takes the same ``SSLContext`` from urllib3 itself, and aiobotocore
    runs as where httpx is not installed. They stay importable afterwards. Only where
    :func:`lean_imports` was called."""
    hidden = [m for m in _UNUSED_BY_S3 if m not in sys.modules] if module == "s3fs" else []
    if "aiobotocore" in sys.modules or not _lean:
        hidden = []
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        importlib.import_module(module)
        return
    except ImportError as exc:
        name = exc.name or ""
        if not any(name == h or name.startswith(f"{h}.") for h in hidden):
            raise
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    importlib.import_module(module)  # a version that needs one of them after all


def _iso_timestamps(fs: AbstractFileSystem) -> None:
    """A listing answers one ISO 8601 time per object (``LastModified``), which botocore parses
    with dateutil: about 0.1 ms each, 10 s of CPU for 100,000 objects. The standard library
    reads the same instant a thousand times faster. Set as the AWS CLI sets its own parser (the
    session's ``response_parser_factory``), on a session made as s3fs makes it, before s3fs
    makes its client; anything but an ISO 8601 UTC time goes to botocore's parser."""
    if getattr(fs, "session", None) is not None or getattr(fs, "_s3", None) is not None:
        return  # a session of the caller's, or a client already made: left as it is
    from aiobotocore.session import AioSession  # type: ignore[import-untyped]

    session = AioSession(**getattr(fs, "kwargs", {}))
    factory = session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=iso_timestamp)
    fs.session = session


def iso_timestamp(value: Any) -> Any:
    """``2026-12-01T19:49:20.000Z`` as an aware UTC datetime; other forms as botocore reads them."""
    if isinstance(value, str) and value.endswith("Z") and "T" in value:
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
    from botocore.utils import parse_timestamp  # type: ignore[import-untyped]

    return parse_timestamp(value)


def _shown(url: str | None) -> str | None:
    """An endpoint as an error line may show it: without user info or a query (credentials
    ride there: ``user:password@``, a SAS token)."""
    if not url or "://" not in url:
        return url
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _endpoint(fs: AbstractFileSystem, protocol: str) -> str | None:
    """The URL the filesystem sends its requests to, as its library resolved it."""
    try:
        if protocol == "s3":
            return str(fs.connect().meta.endpoint_url)
        if protocol == "gcs":
            return str(fs._location)
        if protocol == "az":
            return str(fs.service_client.url)
        if protocol == "hf":
            return str(fs.endpoint)
    except Exception:  # the library could not say: its own first request will
        return None
    return None


def reachable(url: str, what: str, settings: str) -> None:
    """Raise :class:`RemoteError` unless ``url``'s host (or its proxy) accepts a TCP
    connection within :data:`CONNECT_TIMEOUT` seconds. ``url`` may be ``host:port``."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"tcp://{url}")
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    except ValueError:
        raise RemoteError(f"{what} {url}: not a valid port") from None
    import socket  # here: the process that lists and reads needs them, not its caller
    from urllib.request import getproxies, proxy_bypass

    via = ""
    proxies = getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not proxy_bypass(host):
        pp = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port, via = pp.hostname or host, pp.port or 80, f" through the proxy {pp.hostname}"
    if not host or (host, port) in _reached:
        return
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            pass
    except socket.gaierror:
        raise RemoteError(f"{what} {url}{via}: the name {host} does not resolve",
                          hint=f"check the network and {settings}") from None  # fmt: skip
    except TimeoutError:
        raise RemoteError(
            f"{what} {url}{via}: nothing answered within {CONNECT_TIMEOUT:g} s",
            hint=f"check the network and {settings}",
        ) from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise RemoteError(f"{what} {url}{via}: {reason}",
                          hint=f"check the network and {settings}") from None  # fmt: skip
    _reached.add((host, port))


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status an SDK error carries: Azure's ``status_code``, gcsfs' ``code``, the
    Hub's ``response.status_code``."""
    for holder in (exc, getattr(exc, "response", None)):
        for attr in ("status_code", "code"):
            value = getattr(holder, attr, None)
            if isinstance(value, int) and 100 <= value <= 599:
                return value
    return None


# the libraries' errors for a request that got no answer in time: botocore, requests/httpx (the
# Hub), fsspec (gcsfs' whole-request timeout), aiohttp, azure-core
_TIMEOUTS = {
    "ReadTimeoutError": READ_ENV,
    "ConnectTimeoutError": READ_ENV,
    "FSTimeoutError": READ_ENV,
    "TimeoutError": READ_ENV,
    "ServerTimeoutError": READ_ENV,
    "SocketTimeoutError": READ_ENV,
    "ConnectionTimeoutError": READ_ENV,
    "ServiceResponseTimeoutError": READ_ENV,
    "ServiceRequestTimeoutError": READ_ENV,
    "ReadTimeout": "HF_HUB_ETAG_TIMEOUT",  # httpx's and requests': the Hub's client
    "ConnectTimeout": "HF_HUB_ETAG_TIMEOUT",
}


def describe_failure(exc: BaseException, endpoint: str | None = None) -> str:
    """One line for a library's exception: its class and first line, without credentials (the
    libraries do not put secrets in messages; URLs with query strings are cut). A request that
    got no answer in time names ``endpoint`` (when its text does not) and the setting that
    raises the wait."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "?" in text:  # a signed URL's query string carries a signature
        text = text.split("?", 1)[0] + "?…"
    name = type(exc).__name__
    status = _http_status(exc)
    if status in (401, 403):  # the SDKs' own errors: credentials missing, wrong or too narrow
        what = "not authenticated" if status == 401 else "access denied"
        return f"{what} (HTTP {status}, {name}){': ' + text if text else ''}"
    if isinstance(exc, FileNotFoundError):
        return f"not found{': ' + text if text else ''}"
    if isinstance(exc, PermissionError):
        return f"access denied{': ' + text if text else ''}"
    if name in _TIMEOUTS:  # connected, then no answer within the wait
        where = f" from {endpoint}" if endpoint and endpoint not in text else ""
        said = f": {text}" if text else ""
        return f"no answer{where} ({name}){said}; {_TIMEOUTS[name]} raises the wait"
    return f"{name}: {text}" if text else name
