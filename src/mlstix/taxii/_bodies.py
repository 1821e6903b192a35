"""Stored object bodies: the digest kept beside each one and checked whenever it is served, and
the comparison of a re-posted object with the stored one (the same JSON object, whatever the
order of its keys: JSON objects are unordered, RFC 8259 §4)."""

from __future__ import annotations

import json
import zlib

from mlstix.taxii._faults import DamagedObject

__all__ = ["body_crc", "check_body", "same_json"]


def body_crc(body: str) -> int:
    """The digest stored beside each body, checked whenever the body is served."""
    return zlib.crc32(body.encode("utf-8"))


def check_body(object_id: str, body: str, crc: int | None) -> str:
    """``body`` if it is intact; :class:`DamagedObject` if not. Rows written before digests
    existed (``crc`` None) must at least be JSON."""
    if crc is None:
        try:
            json.loads(body)
        except ValueError:
            raise DamagedObject(object_id) from None
    elif zlib.crc32(body.encode("utf-8", "surrogatepass")) != crc:
        raise DamagedObject(object_id)
    return body


def same_json(stored: str, posted: str) -> bool:
    """Whether two JSON texts are the same object, whatever the order of their keys."""
    if stored == posted:
        return True
    try:
        return bool(json.loads(stored) == json.loads(posted))
    except ValueError:
        return False
