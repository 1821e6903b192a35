"""Terraform's file functions for static evaluation: ``file``, ``filebase64``, ``fileexists``,
``templatefile``, ``yamldecode``.

Platform code keeps IAM policies and settings beside the modules (``file("${path.module}/
policy.json")``, ``yamldecode(file("config.yaml"))``); reading them lets the rules judge what
is deployed. As in Terraform, a relative path is taken from the root module's folder. Only
files inside a folder whose Terraform files are being evaluated are read (a path elsewhere,
``/etc/...`` or ``~/.aws/credentials``, stays unknown, so no host file can reach a report), at
most :data:`MAX_FILE_BYTES`, UTF-8, never executed. ``templatefile`` renders the file as an HCL
template with the given variables (template directives ``%{...}`` stay unknown).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from mlstix.scan.iac._hcl import parse_expression
from mlstix.scan.iac._tftypes import EvalError, Unknown, to_string

__all__ = ["MAX_FILE_BYTES", "file_functions", "yamldecode"]

MAX_FILE_BYTES = 1024 * 1024
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12Loader(_Base):  # type: ignore[valid-type,misc]
    """Scalars as Terraform's yamldecode (go-cty-yaml) reads them, checked against terraform
    itself: ``y``/``n``/``yes``/``no``/``on``/``off`` are booleans, ``010`` is ten, ``0x1F`` and
    ``0o17`` are numbers, ``1_000``, ``0b101`` and ``1:30`` are strings."""


_Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    (
        "bool",
        r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
        r"|on|On|ON|off|Off|OFF)$",
        "yYnNtTfFoO",
    ),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    _Yaml12Loader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first)
    )


def _int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text[:2] in ("0o", "0x"):
        return int(text, 8 if text[1] == "o" else 16)
    return int(text, 10)  # YAML 1.2: 010 is ten, not octal


def _bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() in ("y", "yes", "true", "on")


_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:bool", _bool)
_Loader = _Yaml12Loader


def yamldecode(text: Any) -> Any:
    source = to_string(text)
    if source.count("*") > 100:  # aliases: refuse what could expand without bound
        raise Unknown
    try:
        return _string_keys(yaml.load(source, Loader=_Loader))  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, RecursionError):
        raise EvalError("yamldecode(): not YAML") from None


def _string_keys(value: Any, depth: int = 0) -> Any:
    """Terraform object keys are strings: a YAML key ``n`` (false) becomes ``"false"``."""
    if depth > 64:
        raise EvalError("yamldecode(): nested too deeply")
    if isinstance(value, dict):
        return {
            (k if isinstance(k, str) else to_string(k)): _string_keys(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_string_keys(v, depth + 1) for v in value]
    return value


def file_functions(
    root: Path,
    allowed: Callable[[], Iterable[Path]],
    evaluate: Callable[[Any, Mapping[str, Any]], Any],
) -> dict[str, Any]:
    """``file``/``fileexists``/``templatefile`` reading below ``allowed()`` folders, relative to
    ``root``; ``evaluate`` evaluates a parsed template with its variables."""

    def resolve(name: Any) -> Path:
        path = Path(to_string(name)).expanduser()
        target = (path if path.is_absolute() else root / path).resolve()
        if not any(target.is_relative_to(folder) for folder in allowed()):
            raise Unknown  # outside the configuration: not read
        return target

    def file(name: Any) -> str:
        target = resolve(name)
        try:
            if target.stat().st_size > MAX_FILE_BYTES:
                raise Unknown
            return target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise EvalError(f"file(): cannot read {name}") from None

    def filebase64(name: Any) -> str:
        target = resolve(name)
        try:
            if target.stat().st_size > MAX_FILE_BYTES:
                raise Unknown
            return base64.b64encode(target.read_bytes()).decode("ascii")
        except OSError:
            raise EvalError(f"filebase64(): cannot read {name}") from None

    def fileexists(name: Any) -> bool:
        return resolve(name).is_file()

    def templatefile(name: Any, variables: Any) -> Any:
        if not isinstance(variables, dict):
            raise EvalError("templatefile(): variables must be an object")
        text = file(name)
        marker = "MLSTIX_TEMPLATE_END"
        while marker in text:
            marker += "_"
        body = text if text.endswith("\n") else text + "\n"
        try:
            template = parse_expression(f"<<{marker}\n{body}{marker}\n")
        except ValueError:
            raise EvalError(f"templatefile(): {name} is not a template") from None
        rendered = evaluate(template, variables)
        if isinstance(rendered, str) and not text.endswith("\n"):
            cut = rendered[:-1] if rendered.endswith("\n") else rendered
            return type(rendered)(cut)  # keeps an unknown (Expr) unknown
        return rendered

    return {
        "file": file,
        "filebase64": filebase64,
        "fileexists": fileexists,
        "templatefile": templatefile,
    }
