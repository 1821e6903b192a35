"""Does a value refer to a resource? Reference syntax differs by dialect.

- Terraform: ``${aws_s3_bucket.models.id}`` (also inside longer strings), or the resource's
  literal name/bucket attribute;
- CloudFormation: the logical id inside a ``Ref``/``GetAtt``/``Sub`` expression, or the literal
  bucket name;
- ARM: the resource name inside ``resourceId(...)`` / ``concat`` expressions, or the name;
- Kubernetes: not used.
"""

from __future__ import annotations

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
        out.add(target.name)
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


def refers_to(value: Any, target: Resource) -> bool:
    """True when ``value`` (any attribute subtree) references ``target`` or names it."""
    if target.dialect == "terraform":
        ref, before = f"{target.type}.{target.name}", _DOT
    else:
        ref, before = target.name, _DASH
    names = literal_names(target)
    for text in iter_strings(value):
        if (isinstance(text, Expr) or "${" in text) and _has_token(text, ref, before, _DASH):
            return True
        if any(_has_token(text, n, _DOT_DASH, _DOT_DASH) for n in names):
            return True
    return False
