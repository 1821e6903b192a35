"""Verification policy: which keys, certificate chains and Sigstore identities are trusted for
which models.

A policy is a YAML file (``mlstix verify --policy FILE``)::

    version: 1
    rules:                       # the first rule whose pattern matches the model decides
      - models: ["prod/*", "*/bert-base"]   # globs on the model path or its name
        keys: [keys/release.pub]            # paths relative to the policy file
        certificate_chains: [pki/ca.pem]    # each entry: one PEM file (may hold a chain)
        identities:
          - identity: release@example.com
            issuer: https://accounts.google.com
        trust_config: sigstore/trust.json   # optional: verify Sigstore offline

A model no rule matches is not trusted. Model patterns are matched (``fnmatch``) against the
model's path as given, its absolute path, its path relative to the policy file's folder, and its
name.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlstix.errors import UsageError
from mlstix.integrity.trust import ChainTrust, IdentityTrust, KeyTrust, Trust
from mlstix.kb._yaml import load as load_yaml
from mlstix.kb._yaml import problem

__all__ = ["Policy", "PolicyRule", "load_policy"]


class _Identity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    identity: str = Field(min_length=1)
    issuer: str = Field(min_length=1)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    models: list[str] = Field(min_length=1)
    keys: list[str] = Field(default_factory=list)
    certificate_chains: list[str] = Field(default_factory=list)
    identities: list[_Identity] = Field(default_factory=list)
    trust_config: str | None = None


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int
    rules: list[_Rule] = Field(min_length=1)


@dataclass(frozen=True)
class PolicyRule:
    """One rule: the model patterns it covers and what it trusts for them."""

    models: tuple[str, ...]
    trusts: tuple[Trust, ...]


@dataclass(frozen=True)
class Policy:
    """A loaded policy; ``base`` is the policy file's folder."""

    path: Path
    base: Path
    rules: tuple[PolicyRule, ...]

    def rule_for(self, model: Path) -> PolicyRule | None:
        """The first rule whose pattern matches ``model``."""
        resolved = model.resolve()
        names = {str(model), model.name, str(resolved), resolved.name}
        names.add(os.path.relpath(resolved, self.base))
        names = {n.rstrip("/") for n in names}
        for rule in self.rules:
            if any(fnmatch.fnmatchcase(n, p.rstrip("/")) for p in rule.models for n in names):
                return rule
        return None

    def trusts_for(self, model: Path) -> list[Trust]:
        """What this policy trusts for ``model`` (nothing when no rule covers it)."""
        rule = self.rule_for(model)
        return list(rule.trusts) if rule is not None else []


def load_policy(path: Path | str) -> Policy:
    """Read and check a policy file; errors name the file and the field."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"policy file {file} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"policy file {file} is a folder, not a file") from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise UsageError(f"cannot read policy file {file}: {reason}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read policy file {file}: not UTF-8 text ({exc.reason})") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"policy file {file} is not valid YAML: {problem(exc)}") from None
    if not isinstance(data, dict):
        raise UsageError(
            f"policy file {file} is invalid: expected a mapping with version and rules",
            hint="the format is in docs/ci.md (Verifying models before deployment)",
        )
    try:
        parsed = _Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise UsageError(f"policy file {file} is invalid: {problems}") from None
    if parsed.version != 1:
        raise UsageError(f"policy file {file}: version {parsed.version} is not supported (use 1)")
    base = file.resolve().parent
    rules = []
    for index, rule in enumerate(parsed.rules):
        trusts: list[Trust] = [KeyTrust(base / k) for k in rule.keys]
        trusts += [ChainTrust((base / c,)) for c in rule.certificate_chains]
        config = base / rule.trust_config if rule.trust_config else None
        trusts += [IdentityTrust(i.identity, i.issuer, config) for i in rule.identities]
        if not trusts:
            raise UsageError(
                f"policy file {file}: rules.{index} trusts nothing "
                "(give keys, certificate_chains or identities)"
            )
        rules.append(PolicyRule(tuple(rule.models), tuple(trusts)))
    return Policy(file, base, tuple(rules))
