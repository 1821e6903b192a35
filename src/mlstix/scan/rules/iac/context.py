"""What a Python rule sees and returns: the scan's resources, indexed, and its hits.

Rule modules (:mod:`.aws`, :mod:`.kubernetes`, ...) import only this module and export a
``LOGIC`` table of their functions by name; :mod:`.registry` imports the rule modules to build
the registry. Dependencies point one way: registry → rule modules → context.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlstix.scan.iac.resource import Resource

__all__ = ["Context", "Hit", "Logic"]


@dataclass(frozen=True)
class Hit:
    """One resource a Python rule judged insecure, and why."""

    resource: Resource
    detail: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """All resources of a scan, indexed by dialect and type, and grouped by scope.

    A Terraform data source (``data "aws_s3_bucket" "x"``, ``data "azurerm_*"``,
    ``data "google_*"``, a plan's ``mode: "data"``) reads something managed elsewhere: its
    settings are not in the scanned code, so no rule may judge it as configured. ``resources``,
    :meth:`of_type` and :meth:`in_scope` therefore hold managed resources only, and a rule that
    reads a data source's content for a managed resource (the ``data.aws_iam_policy_document`` a
    policy attaches, the ``data.google_iam_policy`` a project sets) asks :meth:`reads`.
    ``scanned`` is everything the scan collected, data sources included.
    """

    scanned: tuple[Resource, ...]
    resources: tuple[Resource, ...] = field(init=False)  # managed resources only
    _by_type: dict[tuple[str, str], list[Resource]] = field(default_factory=dict)
    _by_scope: dict[tuple[str, str, str], list[Resource]] = field(default_factory=dict)
    _reads: dict[tuple[str, str, str], list[Resource]] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)  # per-scan results shared by rules

    def __post_init__(self) -> None:
        managed: list[Resource] = []
        for r in self.scanned:
            if r.data:
                self._reads.setdefault((r.dialect, r.type, r.scope), []).append(r)
                continue
            managed.append(r)
            self._by_type.setdefault((r.dialect, r.type), []).append(r)
            self._by_scope.setdefault((r.dialect, r.type, r.scope), []).append(r)
        self.resources = tuple(managed)

    def of_type(self, dialect: str, *types: str) -> list[Resource]:
        """The managed resources of these types."""
        out: list[Resource] = []
        for t in types:
            out.extend(self._by_type.get((dialect, t), ()))
        return out

    def in_scope(self, scope: str, dialect: str, *types: str) -> list[Resource]:
        """The managed resources of these types in one scope (a root module, a template)."""
        out: list[Resource] = []
        for t in types:
            out.extend(self._by_scope.get((dialect, t, scope), ()))
        return out

    def reads(self, scope: str, dialect: str, *types: str) -> list[Resource]:
        """The data sources of these types in one scope: content a managed resource uses,
        never a subject of a rule."""
        out: list[Resource] = []
        for t in types:
            out.extend(self._reads.get((dialect, t, scope), ()))
        return out


class Logic(Protocol):
    """A Python rule: yields the resources that fail it."""

    def __call__(self, ctx: Context) -> Iterable[Hit]: ...
