"""``detect export --target lucene|esql``: regular expressions in Lucene's syntax (whole-value
matches, no ``\\d``/``(?:``, ``"`` reserved), compared with the rules' own expressions.

No Elasticsearch server is needed: every exported Lucene query is parsed by luqum (a Lucene
query-syntax parser), and every regular expression in the Lucene and ES|QL exports is read by a
port of Lucene's own RegExp parser (lucene_regexp.py), whose reading is compared with the rule's
expression on the fixtures' values and mutations of them."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
import yaml

from mlstix.detect.logs._elastic import MAPPINGS, OBJECT_VALUED, lucene_regex
from mlstix.detect.logs._rules import load_rules
from mlstix.detect.logs._sentinel import NotExpressible
from mlstix.detect.logs.export import NOT_EXPORTED, render_rules
from mlstix.kb.load import load_kb
from tests.detect.logs.conftest import RULES, event
from tests.detect.logs.lucene_regexp import LuceneSyntaxError, to_python


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
    back = to_python(lucene_regex(rx))  # read as Lucene's own parser reads it
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
    dash = "\\-" if target == "lucene" else "\\\\-"  # an ES|QL string escapes the backslash
    assert f"arn:aws[a-z{dash}]*:sts::[0-9]{{12}}:assumed-role" in checkpoint


def _exported(target: str) -> dict[str, str]:
    return {
        name: text
        for name, text in render_rules(load_rules(load_kb()), target).items()
        if name not in (NOT_EXPORTED, MAPPINGS)
    }


def test_every_lucene_query_parses_and_its_regexes_are_lucene_regexes() -> None:
    pytest.importorskip("luqum", reason="the Lucene syntax check needs luqum (dev extra)")
    from luqum.parser import parser
    from luqum.tree import Regex, SearchField
    from luqum.visitor import TreeVisitor

    class Collect(TreeVisitor):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(track_parents=False)
            self.fields: list[str] = []
            self.regexes: list[str] = []

        def visit_search_field(self, node: Any, context: Any) -> Any:
            self.fields.append(node.name)
            yield from self.generic_visit(node, context)

        def visit_regex(self, node: Any, context: Any) -> Any:
            self.regexes.append(node.value[1:-1])
            yield from self.generic_visit(node, context)

    seen = 0
    for name, text in _exported("lucene").items():
        tree = parser.parse(text.strip())
        collect = Collect()
        list(collect.visit(tree))
        assert collect.fields, name
        for field in collect.fields:
            assert "{}" not in field and not field.startswith("'"), (name, field)
        for rx in collect.regexes:
            seen += 1
            # Lucene's query syntax ends a regex at an unescaped '/': the body keeps \/ escapes
            assert not re.search(r"(?<!\\)/", rx.replace("\\\\", "")), (name, rx)
            _check_lucene(name, rx.replace("\\/", "/"))
        assert isinstance(tree, object) and Regex and SearchField
    assert seen >= 8  # the rules' |re fields, some in several selections


def _check_lucene(name: str, rx: str) -> None:
    """What our translator promises, judged on Lucene's own reading of the expression."""
    try:
        to_python(rx)
    except LuceneSyntaxError as exc:
        raise AssertionError(f"{name}: Lucene rejects {rx!r}: {exc}") from None
    outside = re.sub(r"\[(?:\\.|[^\]\\])*\]", "", rx)
    assert not re.search(r"(?<!\\)[$]", outside), (name, "a $ anchor is a literal in Lucene")
    assert not re.search(r"(?<!\\)\^", outside), (name, "a ^ anchor is a literal in Lucene")
    assert not re.search(r"\\[dDwWsSb]", rx), (name, "a shorthand class")
    assert "(?" not in rx and not re.search(r"(?<!\\)[\"@#~&<]", outside), name
    assert not re.search(r"(?<!\\)[(|]\||(?<!\\)\|\)", rx), (name, "an empty alternative")


def test_every_esql_rlike_pattern_is_a_lucene_regex() -> None:
    seen = 0
    for name, text in _exported("esql").items():
        for literal in re.findall(r'(?:RLIKE|rlike) "((?:[^"\\]|\\.)*)"', text):
            seen += 1
            # an ES|QL string literal: \\ is a backslash, \" a quote
            _check_lucene(name, re.sub(r"\\(.)", r"\1", literal))
    assert seen >= 8


def test_lucene_reads_empty_alternatives_and_trailing_dashes_unlike_re2() -> None:
    """The two readings the translator must avoid, shown on Lucene's parser itself."""
    assert re.fullmatch(to_python("(|a)x"), "|ax")  # '|' after '(' is a literal
    with pytest.raises(LuceneSyntaxError, match="invalid range"):
        to_python("[a-]")  # '-' before ']' starts a range ending at ']'
    assert to_python(lucene_regex(r"^(?:|a)x$")) and re.fullmatch(
        to_python(lucene_regex(r"^(?:|a)x$")), "x"
    )
    assert re.fullmatch(to_python(lucene_regex("[a-z-]+")), "-a-")
    assert re.fullmatch(to_python(lucene_regex("a|b")), "xbx")  # .*(a|b).*, not .*a|b.*


# Fields the rules read with a regular expression whose CloudTrail value is a JSON object (a bucket
# policy): Elasticsearch indexes only an object's leaves, so these must reach the index as their
# JSON text (docs/detect.md says how); everything else is indexed as Elasticsearch does by itself.
_AS_TEXT = OBJECT_VALUED


def _index(doc: Any, prefix: str = "") -> dict[str, list[str]]:
    """An event as Elasticsearch indexes it in keyword fields: every leaf under its dotted path,
    list elements under the list's own name, booleans as true/false."""
    out: dict[str, list[str]] = {}

    def put(path: str, value: Any) -> None:
        if isinstance(value, dict):
            if path in _AS_TEXT:
                out.setdefault(path, []).append(json.dumps(value, separators=(",", ":")))
                return
            for key, sub in value.items():
                put(f"{path}.{key}" if path else key, sub)
        elif isinstance(value, list):
            for sub in value:
                put(path, sub)
        elif value is not None:
            text = json.dumps(value) if isinstance(value, bool) else str(value)
            out.setdefault(path, []).append(text)

    put(prefix, doc)
    return out


def _unescape(word: str) -> tuple[str, bool]:
    """A query_string term's text and whether it has unescaped wildcards, as a Python pattern."""
    out, wild, i = "", False, 0
    while i < len(word):
        if word[i] == "\\":
            out += re.escape(word[i + 1])
            i += 2
            continue
        if word[i] in "*?":
            out += ".*" if word[i] == "*" else "."
            wild = True
        else:
            out += re.escape(word[i])
        i += 1
    return out, wild


def _lucene_matches(node: Any, doc: dict[str, list[str]], field: str | None = None) -> bool:
    from luqum import tree

    if isinstance(node, tree.AndOperation):
        return all(_lucene_matches(c, doc, field) for c in node.children)
    if isinstance(node, tree.OrOperation):
        return any(_lucene_matches(c, doc, field) for c in node.children)
    if isinstance(node, tree.Not):
        return not _lucene_matches(node.a, doc, field)
    if isinstance(node, (tree.Group, tree.FieldGroup)):
        return _lucene_matches(node.expr, doc, field)
    if isinstance(node, tree.SearchField):
        if node.name == "_exists_":
            return bool(doc.get(str(node.expr)))
        return _lucene_matches(node.expr, doc, node.name.replace("\\", ""))
    assert field is not None, node
    values = doc.get(field, [])
    if isinstance(node, tree.Regex):
        py = to_python(node.value[1:-1].replace("\\/", "/"))
        return any(re.fullmatch(py, v, re.DOTALL) for v in values)
    if isinstance(node, tree.Phrase):
        return str(node.value)[1:-1] in values
    assert isinstance(node, tree.Word), node
    pattern, _ = _unescape(node.value)
    return any(re.fullmatch(pattern, v, re.DOTALL) for v in values)


@pytest.mark.parametrize("name", sorted(r.name for r in load_kb().detections.rules))
def test_lucene_query_decides_every_fixture_event_like_the_rule(name: str) -> None:
    """Each exported Lucene query, evaluated with Elasticsearch's keyword-field semantics
    (case-sensitive terms, whole-value wildcards and regular expressions read by Lucene's parser,
    list elements as separate values), matches the rule's true positives and none of its
    look-alikes; the fixtures hold values in other cases than the rules' (AmazonSageMaker-
    ExecutionRole-..., Microsoft.KeyVault/...), which Sigma matches and a plain term would not."""
    pytest.importorskip("luqum", reason="the Lucene syntax check needs luqum (dev extra)")
    from luqum.parser import parser

    text = _exported("lucene")[f"{name}.lucene"]
    tree = parser.parse(text.strip())
    cases = json.loads((RULES / f"{name}.json").read_text())
    for expected, key in ((True, "match"), (False, "nomatch")):
        for case in cases[key]:
            doc = _index(event(name, case["event"]))
            assert _lucene_matches(tree, doc) is expected, case["why"]


@pytest.mark.parametrize("target", ["lucene", "esql"])
def test_index_template_keeps_long_policies_searchable(target: str) -> None:
    """ignore_above: a keyword value longer than it is not indexed, so no query can match it (ECS
    templates use 1024, dynamic mappings 256; IAM and bucket policies are often longer). The
    exported template maps every string field a rule reads with a regular expression as
    ``wildcard`` (no length limit) and other strings as keywords up to Lucene's term limit."""
    template = json.loads(render_rules(load_rules(load_kb()), target)[MAPPINGS])
    mappings = template["template"]["mappings"]
    (dynamic,) = mappings["dynamic_templates"]
    keyword = dynamic["strings_as_keywords"]["mapping"]
    assert keyword["type"] == "keyword" and keyword["ignore_above"] * 4 <= 32766

    def leaf(path: str) -> Any:
        node: Any = {"properties": mappings["properties"]}
        for part in path.split("."):
            node = node.get("properties", {}).get(part)
            if node is None:
                return None
        return node

    fields = {f.replace("{}", "") for _, f, _ in REGEXES}
    assert {"requestParameters.policyDocument", "userIdentity.arn"} <= fields
    for field in fields - OBJECT_VALUED:
        assert leaf(field) == {"type": "wildcard"}, field
    for field in OBJECT_VALUED:
        assert leaf(field) is None  # an object meeting a wildcard mapping rejects the document
    long_policy = (
        '{"Version":"2012-10-17","Statement":['
        + ",".join(
            '{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/' + str(i) + '"}'
            for i in range(40)
        )
        + ',{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    )
    assert len(long_policy) > 1024
    rx = '"Action"\\s*:\\s*(\\[[^\\]]*)?"\\*"'
    assert re.fullmatch(to_python(lucene_regex(rx)), long_policy, re.DOTALL)
