"""AWS CloudFormation and SAM templates (JSON and YAML) → :class:`Resource`.

Template anatomy: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-anatomy.html.
Short-form tags are read by :mod:`mlstix.scan.iac._yaml`. Static evaluation, at the parameters'
``Default`` values or the values given with ``--parameter KEY=VALUE``:

- ``Ref`` to a parameter resolves; ``Ref: AWS::NoValue`` removes the property; pseudo
  parameters (``AWS::Region``, ``AWS::AccountId``...) and resources stay unknown, and so do
  parameters of an SSM type (``AWS::SSM::Parameter::Value<String>``: the default or given value
  is the name of the SSM parameter whose value CloudFormation reads) and any string holding a
  dynamic reference (``{{resolve:ssm:...}}``, ``ssm-secure``, ``secretsmanager``);
- ``Conditions`` are evaluated (``Fn::Equals``, ``Fn::And``, ``Fn::Or``, ``Fn::Not``,
  ``Condition``); a resource whose ``Condition`` is false is not created, so not reported;
  ``Fn::If`` takes the branch of a known condition (of an unknown one only when both agree);
- ``Fn::FindInMap`` over ``Mappings`` (with ``AWS::LanguageExtensions``' ``DefaultValue``),
  ``Fn::Sub`` with known variables, ``Fn::Base64``, ``Fn::Join``, ``Fn::Select`` of known
  values resolve, and so do ``Fn::Length`` and ``Fn::ToJsonString`` (of a value with unknown
  parts: the value itself, whose unknown leaves stay unknown);
- anything else becomes an :class:`Expr` holding the JSON of the intrinsic, so references stay
  visible to rules.

SAM templates (``Transform: AWS::Serverless-2016-10-31``) are read the same way; their
``AWS::Serverless::*`` resources keep their type and properties (``Policies`` of a function are
judged by the IAM rules) and ``Globals.Function`` properties apply to every function.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from mlstix.scan.iac._cfnloops import expand
from mlstix.scan.iac._values import Expr, LineIndex
from mlstix.scan.iac._yaml import LineDict
from mlstix.scan.iac.resource import ParsedFile, Resource

__all__ = ["CloudFormationParser", "is_cloudformation"]

_NO_VALUE = object()
_UNKNOWN = object()  # a condition that cannot be decided
_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")
MAX_DEPTH = 64


def is_cloudformation(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    if "AWSTemplateFormatVersion" in doc:
        return True
    if "Serverless" in str(doc.get("Transform", "")):
        return True
    resources = doc.get("Resources")
    return isinstance(resources, dict) and any(
        isinstance(r, dict) and str(r.get("Type", "")).startswith(("AWS::", "Custom::"))
        for r in resources.values()
    )


class _Resolver:
    def __init__(
        self,
        params: Mapping[str, Any],
        conditions: Mapping[str, Any],
        mappings: Mapping[str, Any],
    ) -> None:
        self.params = params
        self.condition_defs = conditions
        self.mappings = mappings
        self._conditions: dict[str, Any] = {}
        self._resolving: set[str] = set()

    # -- conditions ----------------------------------------------------------------------------

    def condition(self, name: Any) -> Any:
        """True, False, or _UNKNOWN."""
        if not isinstance(name, str) or name not in self.condition_defs:
            return _UNKNOWN
        if name in self._conditions:
            return self._conditions[name]
        if name in self._resolving:
            return _UNKNOWN
        self._resolving.add(name)
        value = self._truth(self.condition_defs[name], 0)
        self._resolving.discard(name)
        self._conditions[name] = value
        return value

    def _truth(self, expr: Any, depth: int) -> Any:
        if depth > MAX_DEPTH or not isinstance(expr, dict) or len(expr) != 1:
            return _UNKNOWN
        ((key, arg),) = expr.items()
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
            a, b = (self(v, depth + 1) for v in arg)
            if isinstance(a, Expr) or isinstance(b, Expr) or _NO_VALUE in (a, b):
                return _UNKNOWN
            return _scalar(a) == _scalar(b)
        if key == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
            value = self._truth(arg[0], depth + 1)
            return value if value is _UNKNOWN else not value
        if key in ("Fn::And", "Fn::Or") and isinstance(arg, list):
            values = [self._truth(v, depth + 1) for v in arg]
            decisive = key == "Fn::Or"  # a True decides Or, a False decides And
            if decisive in values:
                return decisive
            return _UNKNOWN if _UNKNOWN in values else not decisive
        return _UNKNOWN

    # -- values --------------------------------------------------------------------------------

    def __call__(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return Expr("...")
        if isinstance(value, list):
            items = [self(v, depth + 1) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return _dynamic(value)
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" or str(key).startswith("Fn::"):
                return _dynamic(self._intrinsic(str(key), arg, depth))
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
            if arg in self.params:
                return self.params[arg]
        elif key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            test = self.condition(arg[0])
            if test is not _UNKNOWN:
                return self(arg[1] if test else arg[2], depth + 1)
            a, b = self(arg[1], depth + 1), self(arg[2], depth + 1)
            if a == b and not isinstance(a, Expr):
                return a
        elif key == "Fn::Base64":
            text = self(arg, depth + 1)
            if isinstance(text, str) and not isinstance(text, Expr):
                return base64.b64encode(text.encode("utf-8")).decode("ascii")
        elif key == "Fn::Sub":
            found = self._sub(arg, depth)
            if found is not None:
                return found
        elif key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            parts = self(arg[1], depth + 1)
            if (
                isinstance(arg[0], str)
                and isinstance(parts, list)
                and all(_known(p) for p in parts)
            ):
                return arg[0].join(str(_scalar(p)) for p in parts)
        elif key == "Fn::FindInMap" and isinstance(arg, list) and len(arg) >= 3:
            keys = [self(a, depth + 1) for a in arg[:3]]
            if all(isinstance(k, str) and not isinstance(k, Expr) for k in keys):
                found = self.mappings.get(keys[0], {})
                for k in keys[1:]:
                    found = found.get(k) if isinstance(found, dict) else None
                if found is not None:
                    return self(found, depth + 1)
                if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                    return self(arg[3]["DefaultValue"], depth + 1)  # AWS::LanguageExtensions
        elif key == "Fn::ToJsonString":  # AWS::LanguageExtensions
            value = self(arg, depth + 1)
            if isinstance(value, dict | list):
                # the JSON text when every value is known; else the structure itself, so its
                # unknown leaves stay unknown where the JSON text would make them look literal
                return json.dumps(value, separators=(",", ":")) if _fully_known(value) else value
        elif key == "Fn::Length" and isinstance(arg, list):  # AWS::LanguageExtensions
            return len(self(arg, depth + 1))
        elif key == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
            index, items = self(arg[0], depth + 1), self(arg[1], depth + 1)
            if isinstance(items, list) and str(index).isdigit() and int(index) < len(items):
                return items[int(index)]
        return Expr(json.dumps({key: arg}, default=str, sort_keys=True))

    def _sub(self, arg: Any, depth: int) -> Any:
        template: str | None = arg if isinstance(arg, str) else None
        names: dict[str, Any] | None = {} if isinstance(arg, str) else None
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
            template, names = arg[0], arg[1] if isinstance(arg[1], dict) else {}
        if template is None or names is None:
            return None
        missing = False

        def one(m: re.Match[str]) -> str:
            nonlocal missing
            name = m.group(1).strip()
            value = self(names[name], depth + 1) if name in names else self.params.get(name)
            if not _known(value) or value is None:
                missing = True
                return m.group(0)
            return str(_scalar(value))

        text = _SUB_VAR.sub(one, template)
        return None if missing else text.replace("${!", "${")


def _dynamic(value: Any) -> Any:
    """A string holding a dynamic reference (``{{resolve:ssm:...}}``, ``ssm-secure``,
    ``secretsmanager``) is resolved by CloudFormation at deploy time: not known here."""
    if isinstance(value, str) and not isinstance(value, Expr) and "{{resolve:" in value:
        return Expr(value)
    return value


def _fully_known(value: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH or isinstance(value, Expr):
        return False
    if isinstance(value, dict):
        return all(_fully_known(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_fully_known(v, depth + 1) for v in value)
    return True


def _known(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not isinstance(value, Expr)


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


def _parameters(document: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in (document.get("Parameters") or {}).items():
        if isinstance(p, dict) and str(p.get("Type", "")).startswith("AWS::SSM::Parameter::"):
            continue  # its value is the named SSM parameter's, read at deploy time: unknown
        if name in given:
            out[name] = given[name]
        elif isinstance(p, dict) and "Default" in p and not isinstance(p["Default"], dict):
            default = p["Default"]
            if isinstance(default, list):  # a CommaDelimitedList default given as a list
                default = ",".join(str(d) for d in default)
            out[name] = default
    return out


def _globals(document: Mapping[str, Any], rtype: str) -> Mapping[str, Any]:
    section = document.get("Globals")
    if not isinstance(section, dict) or not rtype.startswith("AWS::Serverless::"):
        return {}
    found = section.get(rtype.rsplit("::", 1)[-1])
    return found if isinstance(found, dict) else {}


class CloudFormationParser:
    kind = "cloudformation"

    def __init__(self, parameters: Mapping[str, str] | None = None) -> None:
        self.given = dict(parameters or {})

    def parse(self, document: Any, text: str, path: str) -> ParsedFile:
        conditions = document.get("Conditions")
        mappings = document.get("Mappings")
        resolve = _Resolver(
            _parameters(document, self.given),
            conditions if isinstance(conditions, dict) else {},
            mappings if isinstance(mappings, dict) else {},
        )
        resources = document.get("Resources") or {}
        if not isinstance(resources, dict):
            raise ValueError("Resources is not a mapping")
        index = LineIndex(text) if not isinstance(resources, LineDict) else None
        section = text.find('"Resources"') if index else -1
        out = []
        for logical_id, res, written in expand(resources, resolve):
            if not isinstance(res, dict):
                continue
            if "Condition" in res and resolve.condition(res["Condition"]) is False:
                continue  # not created at these parameter values
            if isinstance(resources, LineDict):
                line = resources.key_lines.get(written, 1)
            else:
                assert index is not None
                m = re.compile(r'"' + re.escape(str(written)) + r'"\s*:').search(
                    text, max(section, 0)
                )
                line = index.line_of(m.start()) if m else 1
            rtype = str(res.get("Type", ""))
            raw = res.get("Properties") or {}
            if isinstance(raw, dict):
                raw = {**_globals(document, rtype), **raw}
            props = resolve(raw)
            out.append(
                Resource(
                    provider="aws",
                    type=rtype,
                    name=str(logical_id),
                    attributes=props if isinstance(props, dict) else {},
                    file=path,
                    line=line,
                    language="cloudformation",
                    scope=path,
                )
            )
        return ParsedFile(tuple(out), self.kind)
