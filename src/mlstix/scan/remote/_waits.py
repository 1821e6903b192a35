"""How long the object-store libraries wait for an endpoint that connects and never answers:
each library's own settings, from ``MLSTIX_READ_TIMEOUT`` (:mod:`mlstix._timeouts`).

| store | setting | a request waits | attempts |
|---|---|---|---|
| S3 | botocore ``Config`` (:func:`s3_config`) | 15 s between bytes | 2 |
| Cloud Storage | gcsfs ``requests_timeout`` (:func:`gcs_timeout`) | 60 s in all | 1 |
| Azure Blob | azure-storage-blob client settings (:func:`bound_azure`) | 15 s between bytes | 2 |

The Hugging Face Hub client bounds its own wait (``HF_HUB_ETAG_TIMEOUT``).
"""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

__all__ = [
    "AZ_RETRIES",
    "CONNECT_TIMEOUT",
    "GCS_TIMEOUT",
    "S3_FS_RETRIES",
    "az_timeouts",
    "bound_azure",
    "gcs_timeout",
    "s3_config",
]

CONNECT_TIMEOUT = 5.0  # seconds for an endpoint to accept a TCP connection
S3_READ_TIMEOUT = 15.0  # s3fs' own default: seconds an S3 request waits between bytes
S3_FS_RETRIES = 1  # s3fs' loop around botocore's: one pass (its default 5 multiplies botocore's)


def s3_config() -> dict[str, Any]:
    """botocore ``Config`` settings of the S3 client: a request that gets no answer waits
    ``MLSTIX_READ_TIMEOUT`` (15 s) and is tried twice, so a silent endpoint is an error within
    about 30 s; s3fs' defaults (15 s, five botocore attempts inside five s3fs attempts) waited
    minutes. ``AWS_MAX_ATTEMPTS``/``AWS_RETRY_MODE``, when set, are left to botocore."""
    from mlstix._timeouts import read_timeout

    config: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": read_timeout(S3_READ_TIMEOUT),
    }
    if not any(k in os.environ for k in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")):
        config["retries"] = {"total_max_attempts": 2, "mode": "standard"}
    return config


GCS_TIMEOUT = 60.0  # seconds a gs:// request may take in all, when MLSTIX_READ_TIMEOUT is unset
AZ_READ_TIMEOUT = 15.0  # seconds an az:// request waits between bytes (as S3's)
AZ_RETRIES = 1  # one retry of a request that failed: two attempts, as on S3
_bounded: weakref.WeakSet[AbstractFileSystem] = weakref.WeakSet()  # az filesystems already set


def gcs_timeout() -> Any:
    """gcsfs' ``requests_timeout``, the aiohttp ``ClientTimeout`` of each request: a request
    not done within ``MLSTIX_READ_TIMEOUT`` (60 s) in all fails, and connecting waits
    :data:`CONNECT_TIMEOUT`. A whole-request timeout is the one failure gcsfs' retry loop does
    not retry (its six attempts, with back-off, are fixed when gcsfs is imported; they catch
    aiohttp's per-read timeout but not ``asyncio.TimeoutError``), so a silent endpoint is an
    error after one wait instead of six and 30 s of back-off. The largest request mlstix makes
    is one 16 MiB read-ahead, which the default allows at 280 KB/s."""
    import aiohttp

    from mlstix._timeouts import read_timeout

    return aiohttp.ClientTimeout(total=read_timeout(GCS_TIMEOUT), sock_connect=CONNECT_TIMEOUT)


def az_timeouts() -> dict[str, Any]:
    """azure-storage-blob's own settings: ``connection_timeout``, ``read_timeout`` (between
    bytes: ``MLSTIX_READ_TIMEOUT``, 15 s), and one retry after about two seconds (the SDK's
    default is three retries after 15, 18 and 24 s, each waiting 60 s for bytes: about five
    minutes against a silent endpoint)."""
    from mlstix._timeouts import read_timeout

    return {
        "connection_timeout": CONNECT_TIMEOUT,
        "read_timeout": read_timeout(AZ_READ_TIMEOUT),
        "retry_total": AZ_RETRIES,
        "initial_backoff": 1,  # the retry after 2 +- 1 s (initial_backoff + increment_base**1)
        "increment_base": 1,
        "random_jitter_range": 1,
    }


def bound_azure(fs: AbstractFileSystem) -> None:
    """adlfs passes ``connection_timeout``/``read_timeout`` to downloads and uploads only, and
    no retry setting at all: its listings and property reads run with the SDK's defaults. So
    the SDK client adlfs made is made again, from its own URL and credential, with
    :func:`az_timeouts` (the SDK's constructor settings, which every operation inherits)."""
    if fs in _bounded:
        return
    client = fs.service_client
    fs.service_client = type(client)(
        account_url=client.url, credential=client.credential, **az_timeouts()
    )
    _bounded.add(fs)
