"""Does a value refer to a resource? Reference syntax differs by dialect.

- Terraform: ``${aws_s3_bucket.models.id}`` (also inside longer strings), or the resource's
  literal name/bucket attribute;
- CloudFormation: the logical id inside a ``Ref``/``GetAtt``/``Sub`` expression, or the literal
  bucket name;
- ARM: the resource name inside ``resourceId(...)`` / ``concat`` expressions, or the name;
- Kubernetes: not used.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import Expr
from mlstix.scan.iac.resource import Resource

__all__ = ["iter_strings", "literal_names", "refers_to"]

_NAME_ATTRS = ("bucket", "name", "BucketName", "RepositoryName", "bucket_prefix")


def iter_strings(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > 40:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from iter_strings(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from iter_strings(v, depth + 1)


def literal_names(target: Resource) -> set[str]:
    """Literal names the target is known by (bucket name, resource name)."""
    out = set()
    for attr in _NAME_ATTRS:
        v = target.attributes.get(attr)
        if isinstance(v, str) and not v.startswith(("${", "{", "[")) and len(v) >= 3:
            out.add(v)
    if target.dialect == "arm" and isinstance(target.name, str):
        out.add(target.name.rsplit("/", 1)[-1])  # ARM names are paths: ws/endpoint/blue
    return out


_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _has_token(text: str, needle: str, before: frozenset[str], after: frozenset[str]) -> bool:
    """``needle`` occurs in ``text`` not glued to a character of ``before``/``after``."""
    start = text.find(needle)
    while start != -1:
        end = start + len(needle)
        if (start == 0 or text[start - 1] not in before) and (
            end == len(text) or text[end] not in after
        ):
            return True
        start = text.find(needle, start + 1)
    return False


_DOT = _WORD | {"."}
_DASH = _WORD | {"-"}
_DOT_DASH = _WORD | {".", "-"}


def _instance_ref(text: str, ref: str, key: str) -> bool:
    """``text`` refers to instance ``key`` of ``ref``: ``ref[key]``, ``ref[*]``, an index that
    is not known (``ref[var.x]``), or ``ref`` without an index."""
    start = text.find(ref)
    while start != -1:
        end = start + len(ref)
        if (start == 0 or text[start - 1] not in _DOT) and (
            end == len(text) or text[end] not in _DASH
        ):
            if text[end : end + 1] != "[":
                return True
            close = text.find("]", end)
            index = text[end + 1 : close] if close != -1 else ""
            if index == key or not (index.isdigit() or index.startswith('"')):
                return True
        start = text.find(ref, end)
    return False


def refers_to(value: Any, target: Resource) -> bool:
    """True when ``value`` (any attribute subtree) references ``target`` or names it.

    A Terraform instance (``aws_s3_bucket.b[0]``) is referred to by its own index, a splat or
    an index that is not known, never by another instance's index.
    """
    key = None
    if target.dialect == "terraform":
        ref, before = f"{target.type}.{target.name}", _DOT
        if target.key is not None:
            key = str(target.key) if isinstance(target.key, int) else json.dumps(target.key)
    else:
        ref, before = target.name.rsplit("/", 1)[-1], _DASH  # the last segment of an ARM path
    names = literal_names(target)
    for text in iter_strings(value):
        if isinstance(text, Expr) or "${" in text:
            if key is not None and _instance_ref(text, ref, key):
                return True
            if key is None and _has_token(text, ref, before, _DASH):
                return True
        if any(_has_token(text, n, _DOT_DASH, _DOT_DASH) for n in names):
            return True
    return False
