"""Load Sigma rules (the knowledge base's, or a folder of the user's) and plan one scan per source.

Rules must carry the knowledge-base tie of :mod:`mlstix.kb.detections` (``mlstix.attack_pattern``,
``mlstix.vulnerability``): a finding names the vulnerability it is an instance of. pySigma parses
and checks each rule; a rule pySigma refuses, or that the DuckDB backend cannot express
(correlation rules, CIDR values), is an error naming its file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from mlstix.detect.logs._shapes import SOURCES, Source
from mlstix.detect.logs._sql import DuckDBBackend, json_path
from mlstix.errors import MlstixError
from mlstix.kb.detections import RuleMeta, parse_rule
from mlstix.kb.graph import KnowledgeBase

__all__ = ["LoadedRule", "Plan", "RuleError", "load_rules", "plan"]


class RuleError(MlstixError):
    """A detection rule could not be loaded."""

    hint = "fix the rule (Sigma specification 2.0 plus the mlstix attribute; see kb/detections.py)"


@dataclass(frozen=True)
class LoadedRule:
    meta: RuleMeta
    sigma: SigmaRule


@dataclass
class Plan:
    """Everything one scan of one source needs: the JSON paths to extract and each rule's SQL."""

    source: Source
    slots: dict[str, int] = field(default_factory=dict)
    rules: list[tuple[LoadedRule, str]] = field(default_factory=list)

    def slot(self, name: str) -> str:
        return f"f[{self.slots.setdefault(name, len(self.slots) + 1)}]"

    @property
    def paths(self) -> list[str]:
        return [json_path(name) for name, _ in sorted(self.slots.items(), key=lambda kv: kv[1])]


def _rule_texts(kb: KnowledgeBase, folder: Path | None) -> list[tuple[str, str]]:
    if folder is None:
        return [(r.path, r.text) for r in kb.detections.rules]
    if not folder.is_dir():
        raise RuleError(f"--rules {folder}: not a folder")
    files = sorted([*folder.rglob("*.yml"), *folder.rglob("*.yaml")])
    if not files:
        raise RuleError(f"--rules {folder}: no .yml or .yaml files")
    out = []
    for path in files:
        try:
            out.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleError(f"cannot read rule {path}: {exc}") from None
    return out


def load_rules(kb: KnowledgeBase, folder: Path | None = None) -> list[LoadedRule]:
    """The rules to run; every problem in every file is reported together."""
    problems: list[str] = []
    loaded: list[LoadedRule] = []
    for rel, text in _rule_texts(kb, folder):
        meta, found = parse_rule(text, rel)
        problems.extend(found)
        if meta is None:
            continue
        for key, kind in (
            (meta.attack_pattern, "attack-pattern"),
            (meta.vulnerability, "vulnerability"),
        ):
            if key not in kb or kb.get(key).kind != kind:
                problems.append(f"{rel}: mlstix: no {kind} {key!r} in the knowledge base")
        try:
            collection = SigmaCollection.from_yaml(text)
        except SigmaError as exc:
            problems.append(f"{rel}: {exc}")
            continue
        rule = collection.rules[0]
        if not isinstance(rule, SigmaRule) or rule.errors:
            reason = (
                "; ".join(str(e) for e in getattr(rule, "errors", [])) or "not a detection rule"
            )
            problems.append(f"{rel}: {reason}")
            continue
        loaded.append(LoadedRule(meta, rule))
    if problems:
        raise RuleError(
            "cannot load the detection rules:\n" + "\n".join(f"  {p}" for p in problems)
        )
    return loaded


def plan(rules: list[LoadedRule]) -> dict[str, Plan]:
    """Source key → its plan. Rule SQL refers to slots shared by all rules of the source."""
    plans: dict[str, Plan] = {}
    problems: list[str] = []
    for rule in rules:
        key = f"{rule.meta.product}/{rule.meta.service}"
        if key not in plans:
            plans[key] = Plan(SOURCES[key])
            # the fields every scan reads get their slots before any rule: plans are then only
            # read while files are scanned in parallel
            for name in (SOURCES[key].time, *SOURCES[key].required):
                plans[key].slot(name)
        p = plans[key]
        try:
            queries = DuckDBBackend(p.slots).convert_rule(rule.sigma)
        except SigmaError as exc:
            problems.append(f"{rule.meta.path}: cannot evaluate: {exc}")
            continue
        p.rules.append((rule, " OR ".join(f"({q})" for q in queries)))
    if problems:
        raise RuleError(
            "cannot convert the detection rules:\n" + "\n".join(f"  {p}" for p in problems)
        )
    return plans
