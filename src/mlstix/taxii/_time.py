"""Timestamps of the TAXII server as integers of microseconds since the epoch.

STIX 2.1 timestamps (STIX 2.1 §3.2) are RFC 3339 in UTC with ``Z`` and any number of fractional
digits; TAXII 2.1 (§3.2) prints ``date_added`` with microseconds. The store keeps both as
integers, so sorting and comparing never depend on how many digits a producer wrote. Precision
below a microsecond is truncated.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

__all__ = ["format_us", "now_us", "parse_timestamp"]

_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?Z$",
    re.ASCII,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(text: str) -> int:
    """Microseconds since the epoch of a STIX timestamp; ``ValueError`` names the bad text."""
    match = _TIMESTAMP.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.s+]Z)")
    try:
        whole = datetime.strptime(
            f"{match.group('date')}T{match.group('time')}", "%Y-%m-%dT%H:%M:%S"
        ).replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date and time: {exc}") from None
    frac = (match.group("frac") or "")[:6].ljust(6, "0")
    delta = whole - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + int(frac)


def format_us(value: int) -> str:
    """A TAXII ``date_added``: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    seconds, micros = divmod(value, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def now_us() -> int:
    return time.time_ns() // 1_000
