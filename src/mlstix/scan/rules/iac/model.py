"""Rule metadata and declarative checks, as authored in ``data/*.yaml``.

One YAML file per service holds a list of rules. A rule names its KB vulnerability and courses
of action by key (title, risk and remediation prose come from the knowledge base), adds a short
title suffix, a severity, the cloud, and an IaC fix snippet per language. It is either
declarative (``check``: per dialect, resource types and conditions on attribute paths, each with
the provider's default when the attribute is absent) or names a Python ``logic`` function
registered in :mod:`mlstix.scan.rules.iac.registry`, with the languages it reads and, per
language, the resource types it judges (``judges``; the registry refuses a Python rule without
them): a rule is reported as run only on a scan holding one of them (or one it flags).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlstix.findings.model import Severity

__all__ = ["Check", "Condition", "Dialect", "Op", "Ref", "Rule", "RuleFile"]

Dialect = Literal["terraform", "cloudformation", "arm", "kubernetes"]
Op = Literal[
    "equals", "not_equals", "in", "not_in", "set", "gte", "matches", "not_matches", "all_true"
]
_KEY = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """What must hold of one attribute for the resource to pass.

    ``default`` is the value the provider uses when the attribute is absent (``null`` when it has
    none). ``any`` replaces path/op with alternatives of which one must hold.
    """

    path: str = ""
    op: Op = "equals"
    expected: Any = None
    default: Any = None
    any: tuple[Condition, ...] = ()

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        if not self.any and not self.path:
            raise ValueError("a condition needs a path or an 'any' list")
        return self


class Ref(_Strict):
    """A resource type and the attribute path through which it refers to another resource."""

    type: str
    path: str


class Companion(_Strict):
    """A separate resource that configures part of the checked one.

    Terraform often splits a block out into its own resource:
    ``azurerm_storage_account_network_rules`` (``storage_account_id`` → the account) carries what
    ``network_rules`` would. Its attributes are judged as if written under ``as_path`` of the
    resource it refers to through ``path``.
    """

    type: str
    path: str
    as_path: str


class Check(_Strict):
    """Resources of ``types`` pass when all ``all`` conditions hold.

    ``referenced_by`` restricts the check to resources that a resource of another type refers to
    through an attribute (``{type: azurerm_machine_learning_workspace, path:
    storage_account_id}``): the storage accounts of ML workspaces. ``companions`` name separate
    resources whose attributes count as part of the checked one.
    """

    types: tuple[str, ...] = Field(min_length=1)
    all: tuple[Condition, ...] = Field(min_length=1)
    referenced_by: tuple[Ref, ...] = ()
    companions: tuple[Companion, ...] = ()


class Rule(_Strict):
    id: Annotated[str, Field(pattern=r"^MLSTIX-(AWS|AZ|GCP|K8S)-[A-Z0-9]+-\d{3}$")]
    title: Annotated[str, Field(min_length=5)]
    severity: Severity
    vulnerability: Annotated[str, Field(pattern=_KEY)]
    courses_of_action: tuple[Annotated[str, Field(pattern=_KEY)], ...] = Field(min_length=1)
    cloud: Literal["aws", "azure", "gcp", "kubernetes"]
    check: dict[Dialect, tuple[Check, ...]] = Field(default_factory=dict)
    logic: str | None = None
    languages: tuple[Dialect, ...] = ()
    # a Python rule's applicability: per language, the resource types it judges (a trailing
    # ``*`` matches a prefix). It is "run" on a scan only when one such resource is there
    judges: dict[Dialect, tuple[Annotated[str, Field(min_length=1)], ...]] = Field(
        default_factory=dict
    )
    fix: dict[Dialect, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if bool(self.check) == bool(self.logic):
            raise ValueError("a rule has either 'check' (declarative) or 'logic' (Python)")
        if self.check and self.languages:
            raise ValueError("'languages' is derived from 'check' for declarative rules")
        if self.logic and not self.languages:
            raise ValueError("a Python rule lists its 'languages'")
        if self.check and self.judges:
            raise ValueError("'judges' is derived from 'check' for declarative rules")
        extra = set(self.judges) - set(self.languages)
        if extra:
            raise ValueError(f"'judges' names languages the rule does not list: {sorted(extra)}")
        missing = set(self.dialects) - set(self.fix)
        if missing:
            raise ValueError(f"no fix snippet for {sorted(missing)}")
        return self

    @property
    def dialects(self) -> tuple[Dialect, ...]:
        return tuple(self.check) if self.check else self.languages

    def subjects(self, dialect: Dialect) -> tuple[str, ...]:
        """The resource types the rule judges in ``dialect`` (patterns end in ``*``)."""
        if self.check:
            return tuple(t for check in self.check.get(dialect, ()) for t in check.types)
        return self.judges.get(dialect, ())


class RuleFile(_Strict):
    rules: tuple[Rule, ...] = Field(min_length=1)
