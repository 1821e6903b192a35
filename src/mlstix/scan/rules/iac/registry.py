"""The rule registry: rule metadata from ``data/*.yaml`` plus the Python logic they name.

Python rules register explicitly: each logic module exposes ``register(registry)``, called by
:func:`default_registry` (no work at import time). A logic function receives a
:class:`Context` (every resource of the scan, indexed) and yields :class:`Hit` values; the
engine (:mod:`mlstix.scan.rules.iac.engine`) turns hits into findings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from mlstix.errors import MlstixError
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac.model import Rule, RuleFile

__all__ = ["Context", "Hit", "Logic", "RuleRegistry", "default_registry"]


@dataclass(frozen=True)
class Hit:
    """One resource a Python rule judged insecure, and why."""

    resource: Resource
    detail: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """All resources of a scan, indexed by dialect and type, and grouped by scope."""

    resources: tuple[Resource, ...]
    _by_type: dict[tuple[str, str], list[Resource]] = field(default_factory=dict)
    _by_scope: dict[tuple[str, str, str], list[Resource]] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)  # per-scan results shared by rules

    def __post_init__(self) -> None:
        for r in self.resources:
            self._by_type.setdefault((r.dialect, r.type), []).append(r)
            self._by_scope.setdefault((r.dialect, r.type, r.scope), []).append(r)

    def of_type(self, dialect: str, *types: str) -> list[Resource]:
        out: list[Resource] = []
        for t in types:
            out.extend(self._by_type.get((dialect, t), ()))
        return out

    def in_scope(self, scope: str, dialect: str, *types: str) -> list[Resource]:
        out: list[Resource] = []
        for t in types:
            out.extend(self._by_scope.get((dialect, t, scope), ()))
        return out


class Logic(Protocol):
    """A Python rule: yields the resources that fail it."""

    def __call__(self, ctx: Context) -> Iterable[Hit]: ...


class RuleRegistry:
    """Rules by id, and the Python logic functions by name."""

    def __init__(self) -> None:
        self.rules: dict[str, Rule] = {}
        self.logic: dict[str, Logic] = {}

    def logic_function(self, name: str) -> Callable[[Logic], Logic]:
        """Decorator: register ``fn`` as the logic named ``name``."""

        def deco(fn: Logic) -> Logic:
            if name in self.logic:
                raise ValueError(f"logic {name!r} registered twice")
            self.logic[name] = fn
            return fn

        return deco

    def add(self, rule: Rule, origin: str) -> None:
        if rule.id in self.rules:
            raise MlstixError(f"{origin}: rule {rule.id} is defined twice")
        self.rules[rule.id] = rule

    def load_yaml(self, text: str, origin: str) -> None:
        try:
            data = RuleFile.model_validate(yaml.safe_load(text))
        except (yaml.YAMLError, ValidationError) as exc:
            raise MlstixError(f"invalid rule file {origin}: {exc}") from None
        for rule in data.rules:
            self.add(rule, origin)

    def check(self) -> None:
        """Every Python rule's logic exists."""
        for rule in self.rules.values():
            if rule.logic is not None and rule.logic not in self.logic:
                raise MlstixError(f"rule {rule.id}: no logic registered as {rule.logic!r}")

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self.rules.values(), key=lambda r: r.id))

    def get(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id.upper()]
        except KeyError:
            raise MlstixError(
                f"no rule {rule_id!r}", hint="`mlstix rules list` shows the rule ids"
            ) from None


@cache
def default_registry() -> RuleRegistry:
    """The packaged rules and logic, loaded once."""
    import mlstix.scan.rules.iac.aws as aws_rules
    import mlstix.scan.rules.iac.aws_iam as aws_iam_rules
    import mlstix.scan.rules.iac.aws_training as aws_training_rules
    import mlstix.scan.rules.iac.gcp as gcp_rules
    import mlstix.scan.rules.iac.kubernetes as k8s_rules

    registry = RuleRegistry()
    for module in (aws_rules, aws_iam_rules, aws_training_rules, gcp_rules, k8s_rules):
        module.register(registry)
    folder = resources.files("mlstix.scan.rules.iac") / "data"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            registry.load_yaml(entry.read_text(encoding="utf-8"), f"rules/iac/data/{entry.name}")
    registry.check()
    return registry
