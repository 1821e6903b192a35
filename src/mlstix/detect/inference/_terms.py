"""The rule metadata and knowledge-base names this command's findings carry, read without
loading the whole knowledge base.

A finding of ``mlstix detect inference`` needs, per rule, its id, severity, vulnerability key and
courses of action (``scan/rules/inference.yaml``), and the vulnerability's name as its title.
Importing the rule loader and the knowledge base (pydantic models of every object) and loading
all of it cost about 0.2 CPU-s, a sixth of a whole job on a 37,000-record log, for five rules
and one name. So the CLI reads those two files as plain YAML (libyaml) and takes the fields it
needs, checked for shape; anything unexpected in them, or an author's ``MLSTIX_KB_DATA``, sends
the run through the full checked loaders, which word the problem. A test compares both ways.
A knowledge base handed in by the caller (the library API, tests) is used as it is.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlstix
from mlstix.findings.model import Severity

if TYPE_CHECKING:
    from mlstix.kb.graph import KnowledgeBase

__all__ = ["RuleTerms", "Terms"]

_PACKAGE = Path(mlstix.__file__).parent
_RULES = _PACKAGE / "scan" / "rules" / "inference.yaml"
_VULNERABILITIES = _PACKAGE / "kb" / "data" / "vulnerabilities"


@dataclass(frozen=True)
class RuleTerms:
    """What a finding takes from its rule."""

    id: str
    severity: Severity
    vulnerability: str
    courses_of_action: tuple[str, ...]


def _yaml(path: Path) -> Any:
    """The file read by :func:`_simple` where it can, else by PyYAML (libyaml), whose import
    alone costs about 0.01 CPU-s; ``None`` when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    simple = _simple(data)
    if simple is not None:
        return simple
    import yaml

    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(data, Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError:
        return None


# A value read as a string: plain words, as PyYAML reads them (no indicator, comment, quote or
# colon, and none of the words YAML 1.1 reads as a boolean or null)
_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9 ()/.,_-]*")
_NOT_STRINGS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?: (.*))?")
_OTHER = object()  # a value this reader does not take (block text, lists, dates): not used


def _word(text: str) -> Any:
    """``text`` as PyYAML reads a plain single-line value, or :data:`_OTHER`."""
    if _WORDS.fullmatch(text) and text.lower() not in _NOT_STRINGS and text == text.strip():
        return text
    if text.startswith("[") and text.endswith("]"):
        items = [item.strip() for item in text[1:-1].split(",")]
        if all(_word(item) is item for item in items):
            return items
    return _OTHER


def _simple(data: bytes) -> Any:
    """The two shapes ``_terms`` reads, for the fields it reads, as PyYAML reads them: a
    sequence of flat mappings (``- key: value`` then ``  key: value`` lines: the rules), or a
    top-level mapping (``key: value`` at the left margin, other values indented below their
    key: a knowledge-base object). Values that are not plain words or lists of them are
    :data:`_OTHER`. ``None`` for anything else (a tab, a quote, a flow collection over several
    lines, an anchor or a tag where a word is read, a document marker, a duplicate key, a value
    continued on the next line, ...): PyYAML reads it then. A test compares both on the
    packaged files and on altered copies."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\t" in text or "\r" in text:
        return None
    lines = text.split("\n")
    items: list[dict[str, Any]] = []
    top: dict[str, Any] = {}
    for index, line in enumerate(lines):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith(" ") and top:
            continue  # inside the value of the top-level key above
        if line.startswith("- ") and not top:
            items.append({})
            body = line[2:]
        elif line.startswith("  ") and not line.startswith("   ") and items:
            body = line[2:]
        elif not line.startswith(" ") and not items:
            body = line
        else:
            return None
        entry = _KEY.fullmatch(body)
        if entry is None:
            return None  # a document marker, a directive, a quoted, complex or merge key
        name, value = entry.groups()
        holder = items[-1] if items else top
        if name in holder or (items and value is None):
            return None  # a duplicate key; a nested block inside a rule
        word = _OTHER if value is None else _word(value)
        if word is _OTHER and value and value.lstrip()[:1] in ("[", "{", "'", '"', "&", "*", "!"):
            return None  # a quoted value, a flow collection over lines, an anchor, an alias, a tag
        following = next((ln for ln in lines[index + 1 :] if ln.strip()), "")
        if (word is not _OTHER or items) and following.startswith("   " if items else " "):
            return None  # a plain value continued on the next line
        holder[name] = word
    return items or top or None


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


@functools.cache
def light_rules() -> dict[str, RuleTerms] | None:
    """The rules of ``inference.yaml`` read as plain YAML, or ``None`` when any rule is not of
    the expected shape (the checked loader then says what is wrong)."""
    raw = _yaml(_RULES)
    if not isinstance(raw, list):
        return None
    rules: dict[str, RuleTerms] = {}
    for item in raw:
        if not isinstance(item, dict):
            return None
        rule_id, severity = item.get("id"), item.get("severity")
        vulnerability, actions = item.get("vulnerability"), item.get("courses_of_action")
        if not (isinstance(rule_id, str) and isinstance(vulnerability, str) and _strings(actions)):
            return None
        if severity not in {s.value for s in Severity} or rule_id in rules:
            return None
        rules[rule_id] = RuleTerms(rule_id, Severity(severity), vulnerability, tuple(actions or ()))
    return rules


@functools.cache
def light_name(key: str) -> str | None:
    """The name of vulnerability ``key`` from its own file in the packaged knowledge base, or
    ``None`` when the file is not of the expected shape (or ``MLSTIX_KB_DATA`` names another
    folder: an author's copy is loaded in full, with every check)."""
    if os.environ.get("MLSTIX_KB_DATA") or "/" in key or key.startswith("."):
        return None
    raw = _yaml(_VULNERABILITIES / f"{key}.yaml")
    if not isinstance(raw, dict) or raw.get("key") != key:
        return None
    name = raw.get("name")
    return name if isinstance(name, str) and name else None


class Terms:
    """Rules and vulnerability names for findings, from ``kb`` (a knowledge base, a loader
    called once when first needed) or, when ``kb`` is ``None``, read lightly (see above)."""

    def __init__(self, kb: KnowledgeBase | Callable[[], KnowledgeBase] | None) -> None:
        self._kb = kb

    def _knowledge(self) -> KnowledgeBase:
        if self._kb is None:
            from mlstix.kb.load import load_kb

            self._kb = load_kb
        if callable(self._kb):
            self._kb = self._kb()
        return self._kb

    def rule(self, rule_id: str) -> RuleTerms:
        light = light_rules() if self._kb is None else None
        if light is not None and rule_id in light:
            return light[rule_id]
        from mlstix.scan.rules import load_rules

        rule = load_rules("inference")[rule_id]
        return RuleTerms(rule.id, rule.severity, rule.vulnerability, rule.courses_of_action)

    def title(self, vulnerability: str) -> str:
        name = light_name(vulnerability) if self._kb is None else None
        return name if name is not None else self._knowledge().vulnerability(vulnerability).name
