"""``detect export --target lucene|esql``: regular expressions in Lucene's syntax (whole-value
matches, no ``\\d``/``(?:``, ``"`` reserved), compared with the rules' own expressions."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
import yaml

from mlstix.detect.logs._elastic import lucene_regex
from mlstix.detect.logs._rules import load_rules
from mlstix.detect.logs._sentinel import NotExpressible
from mlstix.detect.logs.export import NOT_EXPORTED, render_rules
from mlstix.kb.load import load_kb
from tests.detect.logs.conftest import RULES, event


def _back(lucene: str) -> str:
    """A Lucene expression as a Python one for re.fullmatch with DOTALL (Lucene's . is any
    character), for the subset lucene_regex writes."""
    out, i = "", 0
    while i < len(lucene):
        ch = lucene[i]
        if ch == "\\":
            nxt = lucene[i + 1]
            out += nxt if nxt in '"@&~<>#' else lucene[i : i + 2]
            i += 2
        elif ch == "[":
            j = lucene.index("]", i + 2 if lucene[i + 1 : i + 3] in ("^]",) else i + 1)
            while lucene[j - 1] == "\\" and lucene[j - 2] != "\\":
                j = lucene.index("]", j + 1)
            out += lucene[i : j + 1]
            i = j + 1
        else:
            out += "(?:" if ch == "(" else ch
            i += 1
    return out


def _regexes() -> list[tuple[str, str, str]]:
    """(rule, field, expression) for every |re in the knowledge base's rules."""
    found = []
    for rule in load_kb().detections.rules:
        for selection in yaml.safe_load(rule.text)["detection"].values():
            for item in selection if isinstance(selection, list) else [selection]:
                if not isinstance(item, dict):
                    continue
                for key, value in item.items():
                    if "|re" in key:
                        for rx in value if isinstance(value, list) else [value]:
                            found.append((rule.name, key.split("|")[0], rx))
    return found


def _values(rule: str, field: str) -> list[str]:
    """The field's values in the rule's fixture events (list elements for a {} field)."""
    cases = json.loads((RULES / f"{rule}.json").read_text())
    out = []
    for case in (*cases["match"], *cases["nomatch"]):
        value: Any = event(rule, case["event"])
        for part in field.replace("{}", ".{}").split("."):
            if part == "{}":
                value = value if isinstance(value, list) else []
                continue
            if isinstance(value, list):
                value = [v.get(part) for v in value if isinstance(v, dict)]
            else:
                value = value.get(part) if isinstance(value, dict) else None
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                out.append(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
    return out


REGEXES = _regexes()


@pytest.mark.parametrize(("rule", "field", "rx"), REGEXES, ids=[f"{r}:{f}" for r, f, _ in REGEXES])
def test_lucene_expression_matches_what_the_rule_matches(rule: str, field: str, rx: str) -> None:
    back = _back(lucene_regex(rx))
    values = _values(rule, field)
    assert values, f"no fixture value for {field}"
    rnd = random.Random(9)
    mutated = []
    for value in values:
        for _ in range(200):
            i = rnd.randrange(len(value) + 1)
            piece = rnd.choice(["", ".", "/", '"', "*", " ", "\n", "a", "1", ":", "@"])
            mutated.append(value[:i] + piece + value[i + rnd.randrange(0, 3) :])
    for value in [*values, *mutated]:
        ours = re.fullmatch(back, value, re.DOTALL) is not None
        assert (re.search(rx, value) is not None) == ours, value


def test_translation() -> None:
    assert lucene_regex(r"^\d{12}\.x/") == r"[0-9]{12}\.x/.*"
    assert lucene_regex(r'"Action"\s*:') == r".*\"Action\"[^!-~]*:.*"
    assert lucene_regex(r"^a(?:b|c)$") == "a(b|c)"
    assert lucene_regex(r"^(?:[^/]*$|x|y)") == "([^/]*|x.*|y.*)"
    assert lucene_regex(r"[\d.]+@x") == r".*[0-9.]+\@x.*"
    for unsupported in (r"a(?=b)", r"(a)\1", r"\bword", r"(?i)abc", r"a+?", r"a^b", r"[\s]"):
        with pytest.raises(NotExpressible):
            lucene_regex(unsupported)


@pytest.mark.parametrize("target", ["lucene", "esql"])
def test_every_rule_exports_with_lucene_expressions(target: str) -> None:
    files = render_rules(load_rules(load_kb()), target)
    assert NOT_EXPORTED not in files
    checkpoint = files[f"aws-s3-checkpoint-written-outside-training.{target}"]
    assert "(?:" not in checkpoint and "\\d" not in checkpoint and "^arn" not in checkpoint
    assert "arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role" in checkpoint
