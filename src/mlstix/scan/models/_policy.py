"""The user's scan policy (``--policy FILE``): allowed imports, severity overrides, ignored
paths. YAML (or JSON) validated with pydantic; every mistake names the field.

    allow_imports: ["mycompany.models.*"]       # fnmatch on module.name
    severity: {models/unsigned-model: low}      # rule id -> critical|high|medium|low|info
    ignore_paths: ["vendor/**", "*.bak"]        # fnmatch on paths relative to the scan root
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from mlstix.errors import UsageError
from mlstix.findings.model import Severity
from mlstix.kb import _yaml
from mlstix.scan.rules import load_rules

__all__ = ["ScanPolicy", "load_policy"]


class ScanPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_imports: tuple[str, ...] = ()
    severity: dict[str, Severity] = {}
    ignore_paths: tuple[str, ...] = ()

    @field_validator("severity")
    @classmethod
    def _known_rules(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        rules = load_rules("models")
        unknown = sorted(k for k in value if k not in rules)
        if unknown:
            raise ValueError(f"unknown rule id {', '.join(unknown)}; known: {', '.join(rules.ids)}")
        return value

    def ignored(self, relpath: str) -> bool:
        rel = relpath.replace("\\", "/")
        return any(
            fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(rel, p.rstrip("/") + "/*")
            for p in self.ignore_paths
        )


def load_policy(path: Path) -> ScanPolicy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise UsageError(f"cannot read policy {path}: {reason}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read policy {path}: not UTF-8 text ({exc.reason})") from None
    try:
        raw = _yaml.load(text) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"policy {path} is not valid YAML: {_yaml.problem(exc)}") from None
    except RecursionError:
        raise UsageError(f"policy {path} is nested too deeply") from None
    if not isinstance(raw, dict):
        raise UsageError(f"policy {path}: expected a mapping with allow_imports, severity, "
                         "ignore_paths")  # fmt: skip
    try:
        return ScanPolicy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(
            f"policy {path}: {problems}",
            hint="see `mlstix scan models --help` for the policy format",
        ) from None
