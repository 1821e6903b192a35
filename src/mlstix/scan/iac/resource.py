"""The normalized resource every IaC parser produces, and the interface of a parser.

A :class:`Resource` is one block of configuration (a Terraform resource, a CloudFormation or ARM
resource, a Kubernetes object) reduced to the same shape whatever the input language: provider,
type, name, a tree of attributes, and the file and line of its block (SARIF 2.1.0 §3.30 regions
need the line). Values the parser could not resolve statically (references to other resources,
variables without a literal default, functions) are kept as :class:`~mlstix.scan.iac._values.Expr`
so rules can tell "unknown" from "absent".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

__all__ = ["Dialect", "Language", "ParsedFile", "Resource", "TextParser"]

Language = Literal["terraform", "terraform-plan", "cloudformation", "arm", "kubernetes"]
Dialect = Literal["terraform", "cloudformation", "arm", "kubernetes"]


@dataclass(frozen=True, eq=False)
class Resource:
    """One resource of one IaC file, normalized."""

    provider: str  # aws | azure | gcp | kubernetes | another Terraform provider prefix
    type: str  # aws_s3_bucket, AWS::S3::Bucket, Microsoft.Storage/storageAccounts, Deployment
    name: str  # the local name: Terraform label, logical id, ARM name, metadata.name
    attributes: Mapping[str, Any]
    file: str
    line: int
    language: Language
    scope: str = ""  # references resolve inside one scope: a Terraform root module, a template
    module: str = ""  # Terraform module path, e.g. "module.net"
    data: bool = False  # a read, not managed here: a Terraform data source, an ARM existing one
    extra: Mapping[str, Any] = field(default_factory=dict)  # namespace of a Kubernetes object
    key: str | int | None = None  # Terraform instance key: count.index or each.key

    @property
    def local_address(self) -> str:
        """``type.name`` with the instance key: ``aws_s3_bucket.b[0]``, ``x.users["bob"]``."""
        base = f"{'data.' if self.data else ''}{self.type}.{self.name}"
        if self.key is None:
            return base
        if isinstance(self.key, int):
            return f"{base}[{self.key}]"
        return base + "[" + json.dumps(self.key) + "]"

    @cached_property
    def dialect(self) -> Dialect:
        """The rule dialect: a plan is checked with the Terraform rules."""
        return "terraform" if self.language == "terraform-plan" else self.language

    @cached_property
    def address(self) -> str:
        if self.dialect == "terraform":
            local = self.local_address
            return f"{self.module}.{local}" if self.module else local
        if self.dialect == "kubernetes":
            ns = self.extra.get("namespace")
            return f"{self.type}/{ns}/{self.name}" if ns else f"{self.type}/{self.name}"
        return f"{self.type} {self.name}"


@dataclass(frozen=True)
class ParsedFile:
    """What one parser made of one file."""

    resources: tuple[Resource, ...]
    kind: str  # reported in the scan's ``scanned`` list


class TextParser(Protocol):
    """A parser of one self-contained file format (everything but HCL directories)."""

    kind: str

    def parse(self, document: Any, text: str, path: str) -> ParsedFile:
        """Turn an already decoded document (and its text, for line numbers) into resources."""
        ...
