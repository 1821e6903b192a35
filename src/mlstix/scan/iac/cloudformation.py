"""AWS CloudFormation templates (JSON and YAML) → :class:`Resource`.

Template anatomy: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-anatomy.html.
Short-form tags are read by :mod:`mlstix.scan.iac._yaml`. Static evaluation:

- ``Ref`` to a parameter with a literal ``Default`` resolves to that default;
  ``Ref: AWS::NoValue`` removes the property;
- ``Fn::If`` whose branches are equal resolves to that value;
- ``Fn::Sub`` of a string without variables, and ``Fn::Join`` of literals, resolve;
- anything else (``Ref``/``GetAtt`` to resources, imports, conditions on parameters) becomes an
  :class:`Expr` holding the JSON of the intrinsic, so references stay visible to rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mlstix.scan.iac._values import Expr, LineIndex
from mlstix.scan.iac._yaml import LineDict
from mlstix.scan.iac.resource import ParsedFile, Resource

__all__ = ["CloudFormationParser", "is_cloudformation"]

_NO_VALUE = object()


def is_cloudformation(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    if "AWSTemplateFormatVersion" in doc:
        return True
    resources = doc.get("Resources")
    return isinstance(resources, dict) and any(
        isinstance(r, dict) and str(r.get("Type", "")).startswith(("AWS::", "Custom::"))
        for r in resources.values()
    )


class _Resolver:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def __call__(self, value: Any, depth: int = 0) -> Any:
        if depth > 100:
            return Expr("...")
        if isinstance(value, list):
            items = [self(v, depth + 1) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" or str(key).startswith("Fn::"):
                return self._intrinsic(str(key), arg, depth)
        out = {}
        for k, v in value.items():
            r = self(v, depth + 1)
            if r is not _NO_VALUE:
                out[k] = r
        return out

    def _intrinsic(self, key: str, arg: Any, depth: int) -> Any:
        if key == "Ref" and isinstance(arg, str):
            if arg == "AWS::NoValue":
                return _NO_VALUE
            default = self.params.get(arg, _NO_VALUE)
            if default is not _NO_VALUE:
                return default
        elif key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            a, b = self(arg[1], depth + 1), self(arg[2], depth + 1)
            if a == b and not isinstance(a, Expr):
                return a
        elif key == "Fn::Sub" and isinstance(arg, str) and "${" not in arg:
            return arg
        elif key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            parts = self(arg[1], depth + 1)
            if (
                isinstance(arg[0], str)
                and isinstance(parts, list)
                and all(isinstance(p, str | int) and not isinstance(p, Expr) for p in parts)
            ):
                return arg[0].join(str(p) for p in parts)
        return Expr(json.dumps({key: arg}, default=str, sort_keys=True))


class CloudFormationParser:
    kind = "cloudformation"

    def parse(self, document: Any, text: str, path: str) -> ParsedFile:
        params = {
            name: p["Default"]
            for name, p in (document.get("Parameters") or {}).items()
            if isinstance(p, dict) and "Default" in p and not isinstance(p["Default"], dict | list)
        }
        resolve = _Resolver(params)
        resources = document.get("Resources") or {}
        if not isinstance(resources, dict):
            raise ValueError("Resources is not a mapping")
        index = LineIndex(text) if not isinstance(resources, LineDict) else None
        section = text.find('"Resources"') if index else -1
        out = []
        for logical_id, res in resources.items():
            if not isinstance(res, dict):
                continue
            if isinstance(resources, LineDict):
                line = resources.key_lines.get(logical_id, 1)
            else:
                assert index is not None
                m = re.compile(r'"' + re.escape(str(logical_id)) + r'"\s*:').search(
                    text, max(section, 0)
                )
                line = index.line_of(m.start()) if m else 1
            props = resolve(res.get("Properties") or {})
            out.append(
                Resource(
                    provider="aws",
                    type=str(res.get("Type", "")),
                    name=str(logical_id),
                    attributes=props if isinstance(props, dict) else {},
                    file=path,
                    line=line,
                    language="cloudformation",
                    scope=path,
                )
            )
        return ParsedFile(tuple(out), self.kind)
