"""Limits on failed logins, per client address and per claimed user (OWASP Authentication Cheat
Sheet: "login throttling"; RFC 6585 §4: 429 Too Many Requests with ``Retry-After``).

A sliding window: more than ``max_failures`` failed logins within ``window`` seconds from one
address, or for one user name (or API-key id), refuse further logins for it, without checking the
secret, until the oldest failure leaves the window. State is per server process and bounded: past
``max_keys`` tracked keys, the oldest are forgotten.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque

__all__ = ["LoginLimiter", "LoginThrottled"]


class LoginThrottled(Exception):
    """Too many failed logins; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int, what: str) -> None:
        super().__init__(what)
        self.retry_after = retry_after
        self.what = what


class LoginLimiter:
    def __init__(
        self, max_failures: int = 10, window: float = 60.0, *, max_keys: int = 100_000
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, address: str | None, user: str | None) -> list[tuple[str, str]]:
        keys = []
        if address:
            keys.append((f"addr:{address}", f"client {address}"))
        if user:
            keys.append((user, user.replace("user:", "user ").replace("key:", "API key ")))
        return keys

    def check(self, address: str | None, user: str | None) -> None:
        """Raise :class:`LoginThrottled` if ``address`` or ``user`` is over the limit."""
        if self.max_failures <= 0:
            return
        now = time.monotonic()
        with self._lock:
            for key, what in self._keys(address, user):
                times = self._failures.get(key)
                if times is None:
                    continue
                while times and times[0] <= now - self.window:
                    times.popleft()
                if len(times) >= self.max_failures:
                    wait = max(1, math.ceil(times[0] + self.window - now))
                    raise LoginThrottled(wait, what)

    def failed(self, address: str | None, user: str | None) -> None:
        if self.max_failures <= 0:
            return
        now = time.monotonic()
        with self._lock:
            for key, _ in self._keys(address, user):
                times = self._failures.pop(key, None) or deque(maxlen=self.max_failures)
                times.append(now)
                self._failures[key] = times  # most recent last
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
