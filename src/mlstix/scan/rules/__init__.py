"""Scanner rule metadata: each rule's id, severity and the knowledge-base keys it points at.

Rules are data (``<scanner>.yaml`` beside this module), validated with pydantic when read: a
rule names its KB vulnerability and courses of action by key and carries a one-line ``check``
(what it detects). It carries no prose about risk or remediation: a finding's title and
remediation come from the knowledge base (DESIGN.md, "the knowledge base is the single source of
truth"). :func:`check_rules` verifies every key against a loaded :class:`KnowledgeBase`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlstix.errors import MlstixError
from mlstix.findings.model import Severity
from mlstix.kb.graph import KnowledgeBase

__all__ = ["Rule", "RuleSet", "check_rules", "load_rules"]

_KEY = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class _RuleData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z]+/[a-z0-9-]+$")]
    severity: Severity
    vulnerability: Annotated[str, Field(pattern=_KEY)]
    courses_of_action: tuple[Annotated[str, Field(pattern=_KEY)], ...] = Field(min_length=1)
    check: Annotated[str, Field(min_length=1)]


@dataclass(frozen=True)
class Rule:
    """One rule: what it checks and which KB vulnerability a hit is an instance of."""

    id: str
    severity: Severity
    vulnerability: str
    courses_of_action: tuple[str, ...]
    check: str


@dataclass(frozen=True)
class RuleSet:
    scanner: str
    rules: tuple[Rule, ...]

    def __getitem__(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(f"no {self.scanner} rule {rule_id!r}")

    def __contains__(self, rule_id: object) -> bool:
        return any(r.id == rule_id for r in self.rules)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)


class RuleDataError(MlstixError):
    """The packaged rule metadata is invalid (a bug in mlstix, not in the user's input)."""


@cache
def load_rules(scanner: str) -> RuleSet:
    """The rules of ``scanner`` (``models``), read from ``<scanner>.yaml`` in this package."""
    text = (resources.files("mlstix.scan.rules") / f"{scanner}.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    if not isinstance(raw, list):
        raise RuleDataError(f"rules/{scanner}.yaml: expected a list of rules")
    rules: list[Rule] = []
    for index, item in enumerate(raw):
        try:
            data = _RuleData.model_validate(item)
        except ValidationError as exc:
            raise RuleDataError(f"rules/{scanner}.yaml: rule [{index}]: {exc}") from None
        rules.append(Rule(**data.model_dump()))
    ids = [r.id for r in rules]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RuleDataError(f"rules/{scanner}.yaml: duplicate rule ids {', '.join(dupes)}")
    return RuleSet(scanner, tuple(rules))


def check_rules(rules: RuleSet, kb: KnowledgeBase) -> list[str]:
    """Problems with ``rules`` against ``kb``: keys that are unknown or of the wrong kind."""
    problems = []
    for rule in rules.rules:
        try:
            kb.vulnerability(rule.vulnerability)
        except KeyError as exc:
            problems.append(f"{rule.id}: vulnerability: {exc.args[0]}")
        for key in rule.courses_of_action:
            try:
                kb.course_of_action(key)
            except KeyError as exc:
                problems.append(f"{rule.id}: courses_of_action: {exc.args[0]}")
    return problems
