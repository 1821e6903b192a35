"""YAML loading for IaC files: PyYAML's C loader, line numbers, CloudFormation short tags.

Mappings load as :class:`LineDict`, a ``dict`` that remembers the 1-based line of the mapping
(``line``) and of each key (``key_lines``), so findings can point at a block. The CloudFormation
short forms (``!Ref``, ``!GetAtt``, ``!Sub``, ``!If``, ...; see the CloudFormation user guide,
"Intrinsic function reference") are turned into their long ``{"Fn::X": ...}`` form; any other
local tag is loaded as its untagged value, so no template fails on a tag.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["LineDict", "load_all", "load_cfn"]

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict[Any, Any]):
    """A mapping with the line it starts on and the line of each key."""

    __slots__ = ("key_lines", "line")

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.key_lines: dict[Any, int] = {}


class _LineLoader(_Base):  # type: ignore[valid-type,misc]
    pass


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    out = LineDict()
    out.line = node.start_mark.line + 1
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            key = str(key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
# A date is text to CloudFormation (`AWSTemplateFormatVersion: 2010-09-09`) and to Kubernetes
# (JSON has no dates): kept as written, and `2026-02-30` is no longer "cannot interpret file"
_LineLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", yaml.constructor.SafeConstructor.construct_yaml_str
)


class _CfnLoader(_LineLoader):
    pass


_FN = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        n: f"Fn::{n}"
        for n in [
            "Base64",
            "Cidr",
            "FindInMap",
            "GetAtt",
            "GetAZs",
            "ImportValue",
            "Join",
            "Select",
            "Split",
            "Sub",
            "Transform",
            "And",
            "Equals",
            "If",
            "Not",
            "Or",
            "Length",
            "ToJsonString",
            "ForEach",
        ]
    },
}


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = _mapping(loader, node)  # type: ignore[arg-type]
    name = _FN.get(suffix)
    if name is None:
        return value  # an unknown local tag: keep the value, drop the tag
    if name == "Fn::GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tagged)


def load_cfn(text: str) -> Any:
    """One CloudFormation template; raises ``yaml.YAMLError`` with the parser's message."""
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


def load_all(text: str) -> list[Any]:
    """All documents of a multi-document YAML stream (Kubernetes manifests)."""
    return list(yaml.load_all(text, Loader=_LineLoader))
