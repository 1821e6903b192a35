"""Query parameters of the TAXII 2.1 object endpoints (§3.4: filtering, §3.6: pagination).

``added_after``, ``limit``, ``next``, ``match[id]``, ``match[type]``, ``match[version]``
(``first``, ``last``, ``all`` or STIX timestamps, comma-separated, default ``last``) and
``match[spec_version]``. ``next`` is an opaque cursor: URL-safe base64 of the ``date_added``
and id of the last item of the previous page. It holds no server state, so any process of the
server, before or after a restart, continues the same listing. A malformed value is a
:class:`QueryError` naming the parameter (the server answers 400).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping

from mlstix.taxii._time import parse_timestamp
from mlstix.taxii.store import Filters, VersionFilter

__all__ = [
    "ALL_FILTERS",
    "QueryError",
    "decode_cursor",
    "encode_cursor",
    "parse_filters",
    "parse_limit",
]

ALL_FILTERS = frozenset(
    {
        "added_after",
        "limit",
        "next",
        "match[id]",
        "match[type]",
        "match[version]",
        "match[spec_version]",
    }
)


class QueryError(ValueError):
    """A query parameter the server cannot honour."""


_DIGITS = re.compile(r"[0-9]{1,12}")  # ASCII only: str.isdigit() also admits "²" and "١"
_MAX_CURSOR = 200  # characters of a cursor; ours are ~90
MAX_LIST = 500  # values of one match[...] filter
_MAX_ADDED = 2**62  # microseconds; fits BIGINT with room to spare


def encode_cursor(key: tuple[int, str]) -> str:
    raw = json.dumps([1, key[0], key[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[int, str]:
    bad = QueryError("next: not a cursor this server issued")
    if len(text) > _MAX_CURSOR or not text.isascii():
        raise bad
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, RecursionError):
        raise bad from None
    if not isinstance(value, list) or len(value) != 3:
        raise bad
    form, added, object_id = value
    if (
        type(form) is not int
        or form != 1
        or type(added) is not int
        or not 0 <= added < _MAX_ADDED
        or not isinstance(object_id, str)
    ):
        raise bad
    return added, object_id


def _list(params: Mapping[str, str], name: str) -> tuple[str, ...]:
    value = params.get(name)
    if value is None:
        return ()
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise QueryError(f"{name}: empty value")
    if len(items) > MAX_LIST:
        raise QueryError(f"{name}: at most {MAX_LIST} values")
    return items


def _versions(params: Mapping[str, str], default: str) -> VersionFilter:
    values = _list(params, "match[version]") or (default,)
    stamps: list[int] = []
    for value in values:
        if value not in ("first", "last", "all"):
            try:
                stamps.append(parse_timestamp(value))
            except ValueError as exc:
                raise QueryError(f"match[version]: {exc}") from None
    return VersionFilter(
        all="all" in values,
        first="first" in values,
        last="last" in values,
        timestamps=tuple(stamps),
    )


def parse_filters(
    params: Mapping[str, str], *, allowed: frozenset[str], version_default: str = "last"
) -> Filters:
    """The filters in ``params``; parameters the endpoint does not support are errors."""
    for name in params:
        if name in ALL_FILTERS and name not in allowed:
            raise QueryError(f"{name}: not supported by this endpoint")
    added_after = None
    if "added_after" in params:
        try:
            added_after = parse_timestamp(params["added_after"])
        except ValueError as exc:
            raise QueryError(f"added_after: {exc}") from None
    spec_versions = _list(params, "match[spec_version]")
    for sv in spec_versions:
        if sv not in ("2.0", "2.1"):
            raise QueryError(f"match[spec_version]: unknown STIX version {sv!r}")
    return Filters(
        ids=_list(params, "match[id]"),
        types=_list(params, "match[type]"),
        spec_versions=spec_versions,
        versions=_versions(params, version_default),
        added_after=added_after,
    )


def parse_limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    """``limit``: a positive integer; values above the server's page size are lowered to it."""
    text = params.get("limit")
    if text is None:
        return default
    if _DIGITS.fullmatch(text) is None or int(text) < 1:
        raise QueryError("limit: must be a positive integer of at most 12 digits")
    return min(int(text), maximum)
