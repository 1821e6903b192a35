"""How long mlstix waits for a cloud or cluster API to answer, and where a user raises it.

A server can accept the TCP connection and then never answer (a stuck proxy, a firewall that
drops after the handshake, a half-dead emulator). The SDKs' defaults wait 60 s per read and retry
several times, so a command would hang for minutes with no output. The first request to a
service (AWS ``sts:GetCallerIdentity``, Kubernetes ``GET /api``) waits :func:`probe_timeout`
seconds and is tried twice; later requests (the listings, object reads) wait
:func:`read_timeout` seconds between bytes (gs://: for the whole request, which is what gcsfs
does not retry). All are the SDKs' own settings (botocore ``Config``, urllib3 ``Retry`` and
``_request_timeout``, gcsfs' ``requests_timeout``, azure-storage-blob's ``read_timeout`` and
``retry_total``), not threads or signals. A Ray worker gets both settings from the command that
started it (:func:`forwarded`).
"""

from __future__ import annotations

import math
import os

from mlstix.errors import UsageError

__all__ = ["PROBE_ENV", "READ_ENV", "forwarded", "probe_timeout", "read_timeout"]

PROBE_ENV = "MLSTIX_PROBE_TIMEOUT"
READ_ENV = "MLSTIX_READ_TIMEOUT"
PROBE_DEFAULT = 10.0  # seconds the first request to a service waits for its answer
READ_DEFAULT = 60.0  # seconds a later request waits between bytes (assessment listings)


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 < value <= 3600:
        raise UsageError(
            f"{name}={raw[:40]!r} is not a number of seconds",
            hint=f"set {name} to a number of seconds between 0 and 3600 (default {default:g})",
        )
    return value


def probe_timeout() -> float:
    """Seconds the first request to a service waits for an answer (``MLSTIX_PROBE_TIMEOUT``)."""
    return _seconds(PROBE_ENV, PROBE_DEFAULT)


def read_timeout(default: float = READ_DEFAULT) -> float:
    """Seconds a later request waits between bytes (``MLSTIX_READ_TIMEOUT``)."""
    return _seconds(READ_ENV, default)


# the libraries' own settings that shape a wait, where the user set them
_LIBRARY_WAITS = ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "HF_HUB_ETAG_TIMEOUT",
                  "HF_HUB_DOWNLOAD_TIMEOUT")  # fmt: skip


def forwarded() -> dict[str, str]:
    """The wait settings of this process, for a process elsewhere that must wait the same (a
    Ray worker's ``runtime_env``): ``MLSTIX_PROBE_TIMEOUT``, ``MLSTIX_READ_TIMEOUT`` and the
    libraries' own, where set. A value that is no number of seconds is refused here, once,
    rather than by every task."""
    probe_timeout()
    read_timeout()
    names = (PROBE_ENV, READ_ENV, *_LIBRARY_WAITS)
    return {name: os.environ[name] for name in names if os.environ.get(name, "").strip()}
