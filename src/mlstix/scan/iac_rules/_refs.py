"""Does a value refer to a resource? Reference syntax differs by dialect.

- Terraform: ``${aws_s3_bucket.models.id}`` (also inside longer strings), or the resource's
  literal name/bucket attribute;
- CloudFormation: the logical id inside a ``Ref``/``GetAtt``/``Sub`` expression, or the literal
  bucket name;
- ARM: the resource name inside ``resourceId(...)`` / ``concat`` expressions, or the name;
- Kubernetes: not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
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


@lru_cache(maxsize=65536)
def _matchers(
    dialect: str, rtype: str, name: str, names: frozenset[str]
) -> tuple[re.Pattern[str], re.Pattern[str] | None]:
    if dialect == "terraform":
        ref = re.escape(f"{rtype}.{name}")
        by_ref = re.compile(rf"(?<![\w.]){ref}(?![\w-])")
    else:
        by_ref = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    alternatives = "|".join(re.escape(n) for n in sorted(names))
    by_name = re.compile(rf"(?<![\w.-])(?:{alternatives})(?![\w.-])") if names else None
    return by_ref, by_name


def refers_to(value: Any, target: Resource) -> bool:
    """True when ``value`` (any attribute subtree) references ``target`` or names it."""
    by_ref, by_name = _matchers(
        target.dialect, target.type, target.name, frozenset(literal_names(target))
    )
    for text in iter_strings(value):
        if (isinstance(text, Expr) or "${" in text) and by_ref.search(text):
            return True
        if by_name is not None and by_name.search(text):
            return True
    return False
