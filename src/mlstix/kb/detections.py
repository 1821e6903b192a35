"""Detection rules as knowledge-base data: Sigma rules tied to attack patterns.

Rules live under ``kb/data/sigma/<product>/<name>.yml`` as plain Sigma rules (Sigma
specification 2.0: ``title``, ``id``, ``logsource``, ``detection``, ``level``, ``tags``,
``falsepositives``, ``references``) with one custom attribute, ``mlstix``, that ties the rule to
the knowledge base::

    mlstix:
      attack_pattern: ml-model-tampering       # the attack pattern the rule detects
      vulnerability: unversioned-model-assets  # what a match is an instance of (a finding's KB key)
      indicates_id: relationship--<uuid4>      # the STIX ``indicates`` relationship, authored once

The rule's ``references`` include the attack pattern's reference page and its ``tags`` an ATLAS
technique (``atlas.aml.tNNNN``) beside the ATT&CK ones.

They sit beside the rest of the authored data because they are published with it: the compiler
turns each rule into a STIX ``indicator`` (``pattern_type: sigma``, the rule text as pattern, id
``indicator--<rule id>``) that ``indicates`` its attack pattern. An attack pattern whose traces
never reach an audit log has an entry in ``sigma/no-audit-trace.yaml`` instead, published as a STIX
``note`` saying why and what to log instead.

This module reads the YAML with PyYAML and checks the knowledge-base ties with pydantic; it does
not import pySigma (an optional dependency). The Sigma semantics are checked by pySigma in the
tests and by ``mlstix detect`` when it loads the rules.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from mlstix.kb._yaml import Loader, problem

if TYPE_CHECKING:
    from mlstix.kb.graph import KnowledgeBase

__all__ = ["Detections", "NoRuleNote", "RuleMeta", "load_detections"]

_UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_KEY = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
NO_RULE_FILE = "no-audit-trace.yaml"
# libyaml's safe loader when PyYAML was built with it (the rules are read on every command
# that loads the knowledge base, and the pure-Python loader costs most of that load), and a
# value its tag cannot construct (a rule dated 2026-02-30) is a YAMLError naming the line
_SAFE_LOADER: type[yaml.SafeLoader] = Loader
KB_PAGE = "https://github.com/mlstix/mlstix/blob/main/docs/reference/attack-pattern/{key}.md"
LEVELS = ("informational", "low", "medium", "high", "critical")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class _Tie(_Strict):
    attack_pattern: Annotated[str, Field(pattern=_KEY)]
    vulnerability: Annotated[str, Field(pattern=_KEY)]
    indicates_id: Annotated[str, Field(pattern=rf"^relationship--{_UUID4}$")]
    # the indicator's exact modified time, for a rule changed more than once on one day (Sigma's
    # own modified is a date, and a STIX consumer keeps one version per id and modified)
    modified: AwareDatetime | None = None


class _LogSource(_Strict):
    product: Literal["aws", "azure", "gcp", "kubernetes"]
    service: Literal["cloudtrail", "activitylogs", "gcp.audit", "audit"]


class _RuleHead(BaseModel):
    """The parts of a Sigma rule the knowledge base reads; the rest is Sigma's business."""

    model_config = ConfigDict(extra="allow", frozen=True)

    title: Annotated[str, Field(min_length=1, max_length=256)]
    id: Annotated[str, Field(pattern=rf"^{_UUID4}$")]
    status: Literal["stable", "test", "experimental"]
    description: Annotated[str, Field(min_length=1)]
    references: tuple[Annotated[str, Field(pattern=r"^https://")], ...] = Field(min_length=1)
    author: str
    date: _dt.date
    modified: _dt.date | None = None
    tags: tuple[Annotated[str, Field(pattern=r"^[a-z0-9_-]+\.[a-z0-9._-]+$")], ...]
    logsource: _LogSource
    detection: dict[str, Any]
    falsepositives: tuple[Annotated[str, Field(min_length=1)], ...] = Field(min_length=1)
    level: Literal["informational", "low", "medium", "high", "critical"]
    mlstix: _Tie


@dataclass(frozen=True)
class RuleMeta:
    """One authored Sigma rule: its text (the STIX pattern) and what the KB needs from it."""

    path: str  # relative to the data folder, e.g. sigma/aws/x.yml
    text: str
    id: str
    name: str  # the file stem, a stable human handle
    title: str
    description: str
    level: str
    product: str
    service: str
    tags: tuple[str, ...]
    references: tuple[str, ...]
    falsepositives: tuple[str, ...]
    created: datetime
    modified: datetime
    attack_pattern: str
    vulnerability: str
    indicates_id: str

    @property
    def indicator_id(self) -> str:
        return f"indicator--{self.id}"


class NoRuleNote(_Strict):
    """Why an attack pattern has no audit-log rule, and what to log instead."""

    attack_pattern: Annotated[str, Field(pattern=_KEY)]
    note_id: Annotated[str, Field(pattern=rf"^note--{_UUID4}$")]
    created: datetime
    modified: datetime
    reason: Annotated[str, Field(min_length=1)]


class _NoRuleFile(_Strict):
    attack_patterns: tuple[NoRuleNote, ...]


@dataclass(frozen=True)
class Detections:
    rules: tuple[RuleMeta, ...] = ()
    no_rule: tuple[NoRuleNote, ...] = ()

    def for_attack_pattern(self, key: str) -> tuple[RuleMeta, ...]:
        return tuple(r for r in self.rules if r.attack_pattern == key)


def _day(value: _dt.date) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _errors(rel: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        out.append(f"{rel}: field {field}: {msg}")
    return out


def parse_rule(text: str, rel: str) -> tuple[RuleMeta | None, list[str]]:
    """Parse one rule file's text; return the rule or the problems, each naming ``rel``."""
    try:
        raw = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader (libyaml's)
    except yaml.YAMLError as exc:
        return None, [f"{rel}: YAML syntax: {problem(exc)}"]
    if not isinstance(raw, dict):
        return None, [f"{rel}: expected one Sigma rule (a mapping)"]
    try:
        head = _RuleHead.model_validate(raw)
    except ValidationError as exc:
        return None, _errors(rel, exc)
    created = _day(head.date)
    modified = _day(head.modified) if head.modified else created
    problems = []
    exact = head.mlstix.modified
    if exact is not None:
        exact = exact.astimezone(UTC)
        if exact.date() != modified.date():
            problems.append(
                f"{rel}: field mlstix.modified: {exact.isoformat()} is not on the rule's "
                f"modified date {modified.date().isoformat()}"
            )
        modified = exact
    rule = RuleMeta(
        path=rel,
        text=text,
        id=head.id,
        name=Path(rel).stem,
        title=head.title,
        description=" ".join(head.description.split()),
        level=head.level,
        product=head.logsource.product,
        service=head.logsource.service,
        tags=head.tags,
        references=head.references,
        falsepositives=head.falsepositives,
        created=created,
        modified=modified,
        attack_pattern=head.mlstix.attack_pattern,
        vulnerability=head.mlstix.vulnerability,
        indicates_id=head.mlstix.indicates_id,
    )
    if modified < created:
        problems.append(f"{rel}: field modified: earlier than date")
    return rule, problems


def _check_ties(kb: KnowledgeBase, rules: Iterable[RuleMeta], problems: list[str]) -> None:
    for rule in rules:
        tie = rule.attack_pattern
        if tie not in kb or kb.get(tie).kind != "attack-pattern":
            problems.append(f"{rule.path}: field mlstix.attack_pattern: no attack pattern {tie!r}")
            continue
        vuln = rule.vulnerability
        if vuln not in kb or kb.get(vuln).kind != "vulnerability":
            problems.append(f"{rule.path}: field mlstix.vulnerability: no vulnerability {vuln!r}")
        elif not any(
            r.type == "targets" and r.target == vuln for r in kb.edges_from(rule.attack_pattern)
        ):
            problems.append(
                f"{rule.path}: field mlstix.vulnerability: {tie!r} does not target {vuln!r}"
            )
        if KB_PAGE.format(key=tie) not in rule.references:
            problems.append(f"{rule.path}: field references: lacks {KB_PAGE.format(key=tie)}")
        if not any(t.startswith("atlas.aml.t") for t in rule.tags):
            problems.append(f"{rule.path}: field tags: no MITRE ATLAS technique (atlas.aml.tNNNN)")


def load_detections(folder: Path, kb: KnowledgeBase, problems: list[str]) -> Detections:
    """Read ``folder`` (``kb/data/sigma``); append problems naming file and field.

    A data folder without ``sigma/`` has no detections (minimal test knowledge bases). With it,
    every attack pattern needs a rule or a ``no-audit-trace.yaml`` entry.
    """
    if not folder.is_dir():
        return Detections()
    rules: list[RuleMeta] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.rglob("*.yml")):
        rel = f"sigma/{path.relative_to(folder).as_posix()}"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{rel}: cannot read: {exc}")
            continue
        rule, found = parse_rule(text, rel)
        problems.extend(found)
        if rule is None:
            continue
        if path.parent.name != rule.product:
            problems.append(f"{rel}: a {rule.product} rule belongs in sigma/{rule.product}/")
        for ident in (rule.id, rule.indicates_id):
            if ident in seen:
                problems.append(f"{rel}: id {ident} also used in {seen[ident]}")
            seen[ident] = rel
        rules.append(rule)
    _check_ties(kb, rules, problems)
    notes: tuple[NoRuleNote, ...] = ()
    no_rule_path = folder / NO_RULE_FILE
    rel = f"sigma/{NO_RULE_FILE}"
    if no_rule_path.is_file():
        try:
            raw = yaml.load(no_rule_path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # noqa: S506
            notes = _NoRuleFile.model_validate(raw).attack_patterns
        except yaml.YAMLError as exc:
            problems.append(f"{rel}: YAML syntax: {problem(exc)}")
        except ValidationError as exc:
            problems.extend(_errors(rel, exc))
    covered = {r.attack_pattern for r in rules}
    for note in notes:
        if note.attack_pattern not in kb or kb.get(note.attack_pattern).kind != "attack-pattern":
            problems.append(f"{rel}: no attack pattern {note.attack_pattern!r}")
        elif note.attack_pattern in covered:
            problems.append(f"{rel}: {note.attack_pattern!r} has rules; drop its entry")
    explained = covered | {n.attack_pattern for n in notes}
    for ap in kb.attack_patterns:
        if ap.key not in explained:
            problems.append(f"sigma/: attack pattern {ap.key!r} has no rule and no {rel} entry")
    order = sorted(rules, key=lambda r: (r.product, r.name))
    return Detections(
        rules=tuple(order), no_rule=tuple(sorted(notes, key=lambda n: n.attack_pattern))
    )
