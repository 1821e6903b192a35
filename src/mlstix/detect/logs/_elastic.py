"""The rules for Elasticsearch (Lucene queries and ES|QL): list fields and regular expressions.

Elasticsearch indexes a list's elements under the list's own field name, so ``a{}.b`` is ``a.b``.

Both Lucene ``field:/re/`` and ES|QL ``RLIKE`` use Lucene's regular-expression syntax
(elastic.co/guide/en/elasticsearch/reference/current/regexp-syntax.html), not the RE2/PCRE the
rules are written in (Sigma ``|re``; DuckDB, KQL and Splunk read them as written):

- a pattern always matches the whole value: ``^``/``$`` are not anchors, so an expression anchored
  at its start only gets ``.*`` after it, an unanchored one ``.*`` on both sides;
- ``(?:`` groups are plain ``(`` groups; ``\\d``, ``\\w`` and ``\\s`` do not exist (a backslash only
  makes the next character literal): they become ``[0-9]``, ``[0-9A-Za-z_]`` and ``[^!-~]`` (any
  character outside printable ASCII: the whitespace a JSON document may hold between tokens, but
  also any non-ASCII character);
- ``"`` (a quoted string) and the optional operators ``@ & ~ < > #`` are reserved and escaped.

An expression using what Lucene cannot express (lookaround, back-references, ``\\b``, inline
flags, lazy quantifiers, anchors inside it other than ``$`` ending an alternative of a leading
group) raises :class:`~._sentinel.NotExpressible`; the rule is then left out of the export.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldFunctionTransformation
from sigma.processing.transformations.base import DetectionItemTransformation, ValueTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem
from sigma.types import (
    SigmaCasedString,
    SigmaRegularExpression,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from mlstix.detect.logs._sentinel import NotExpressible

__all__ = ["MAPPINGS", "OBJECT_VALUED", "elastic_pipeline", "index_template", "lucene_regex"]

_CLASSES = {"d": "0-9", "w": "0-9A-Za-z_", "s": "^!-~"}
_RESERVED = set('"@&~<>#')
_UNSUPPORTED = re.compile(r"\(\?[=!<a-zA-Z]|\\[1-9bBAZzGpPQE]|[*+?}]\?")


def _tokens(rx: str) -> list[str]:
    """Escapes, character classes and single characters."""
    out, i = [], 0
    while i < len(rx):
        if rx[i] == "\\":
            out.append(rx[i : i + 2])
            i += 2
        elif rx[i] == "[":
            j = i + 1 + (rx[i + 1 : i + 2] == "^")
            j += rx[j : j + 1] == "]"
            while j < len(rx) and rx[j] != "]":
                j += 2 if rx[j] == "\\" else 1
            out.append(rx[i : j + 1])
            i = j + 1
        else:
            out.append(rx[i])
            i += 1
    return out


def _class(token: str) -> str:
    """A character class with the shorthands spelt out (a negated shorthand cannot be)."""
    negated = token.startswith("[^")
    body = token[2 if negated else 1 : -1]
    # a '-' first or last is literal in RE2 but starts a range in Lucene (RegExp.parseCharClass
    # reads '[a-]' as the range from 'a' to ']'): escape it
    if body.startswith("-"):
        body = "\\" + body
    if body.endswith("-") and not body.endswith("\\-"):
        body = body[:-1] + "\\-"
    out, i = "", 0
    while i < len(body):
        if body[i] == "\\" and body[i + 1 : i + 2] in _CLASSES:
            expansion = _CLASSES[body[i + 1]]
            if expansion.startswith("^"):
                raise NotExpressible(f"regular expression class {token}: \\s inside a class")
            out += expansion
            i += 2
        elif body[i] == "\\":
            out += body[i : i + 2]
            i += 2
        else:
            out += body[i]
            i += 1
    return f"[{'^' if negated else ''}{out}]"


def _convert(tokens: list[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "(" and tokens[i + 1 : i + 3] == ["?", ":"]:
            out.append("(")
            i += 3
            continue
        if tok in ("|", ")") and (not out or out[-1] in ("(", "|")):
            # an empty alternative: Lucene's parser reads the '|' or ')' after nothing as a
            # literal character (RegExp.parseSimpleExp), so the empty string is written '()'
            out.append("()")
        if tok in ("^", "$"):
            raise NotExpressible("an anchor inside a regular expression")
        if tok.startswith("["):
            out.append(_class(tok))
        elif tok.startswith("\\") and tok[1:] in _CLASSES:
            out.append(f"[{_CLASSES[tok[1:]]}]")
        elif tok in _RESERVED:
            out.append("\\" + tok)
        else:
            out.append(tok)
        i += 1
    if out and out[-1] == "|":
        out.append("()")
    return "".join(out)


def _top_level_union(tokens: list[str]) -> bool:
    depth = 0
    for tok in tokens:
        depth += (tok == "(") - (tok == ")")
        if tok == "|" and depth == 0:
            return True
    return False


def _alternatives(tokens: list[str]) -> list[list[str]] | None:
    """The top-level alternatives of one group ``( ... )`` spanning ``tokens``, else None."""
    if not tokens or tokens[0] != "(" or tokens[-1] != ")":
        return None
    depth = 1
    alts: list[list[str]] = [[]]
    for tok in tokens[1:-1]:
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
            if depth == 0:
                return None  # the first group closes before the end: more than one group
        if tok == "|" and depth == 1:
            alts.append([])
        else:
            alts[-1].append(tok)
    return alts


def lucene_regex(rx: str) -> str:
    """``rx`` (matched anywhere, RE2/PCRE) as a Lucene regular expression (matches whole values)."""
    if _UNSUPPORTED.search(rx):
        raise NotExpressible(f"regular expression {rx!r}: a construct Lucene has no equivalent for")
    tokens = _tokens(rx)
    start = tokens[:1] == ["^"]
    end = tokens[-1:] == ["$"] and len(tokens) > int(start)
    body = tokens[int(start) : len(tokens) - int(end)]
    tail = "" if end else ".*"
    group = _alternatives(body)
    if group is not None and any(a[-1:] == ["$"] for a in group):
        # ^(?:a$|b|c): each alternative ends the value itself or is followed by anything
        if body[1:3] == ["?", ":"]:
            group[0] = group[0][2:]
        parts = [_convert(a[:-1]) if a[-1:] == ["$"] else _convert(a) + tail for a in group if a]
        converted = "(" + "|".join(parts) + ")"
    elif _top_level_union(body):
        if start or end:
            raise NotExpressible(f"regular expression {rx!r}: an anchor on one alternative")
        # a|b matched anywhere is .*(a|b).*, not .*a|b.*
        converted = "(" + _convert(body) + ")" + tail
    else:
        converted = _convert(body) + tail
    return ("" if start else ".*") + converted


@dataclass
class _LuceneRegex(ValueTransformation):
    def apply_value(self, field: str | None, val: SigmaType) -> SigmaType | None:
        if isinstance(val, SigmaRegularExpression):
            if val.flags:
                raise NotExpressible(f"field {field!r}: regular expression flags")
            return SigmaRegularExpression(lucene_regex(str(val.regexp)))
        return None


_BOOLEANS = ("true", "false")  # JSON booleans: a boolean field takes no regexp or to_lower()


def _folds(val: SigmaType) -> bool:
    """A case-insensitive string (Sigma's default) whose letters Elasticsearch would compare
    case-sensitively (keyword fields have no normalizer)."""
    return (
        isinstance(val, SigmaString)
        and not isinstance(val, SigmaCasedString)
        and any(isinstance(p, str) and p.lower() != p.upper() for p in val.s)
        and str(val).lower() not in _BOOLEANS
    )


def _folded_regex(val: SigmaString) -> str:
    """``Put*`` as ``^[pP][uU][tT].*$``: the same strings, in any case."""
    out = []
    for part in val.s:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        elif isinstance(part, str):
            for ch in part:
                low, up = ch.lower(), ch.upper()
                out.append(
                    f"[{low}{up}]" if low != up and len(low) == len(up) == 1 else re.escape(ch)
                )
        else:
            raise NotExpressible(f"value {val}: a placeholder")
    return "^" + "".join(out) + "$"


@dataclass
class _CaseFoldLucene(ValueTransformation):
    """Lucene: a case-insensitive string becomes a regular expression with both cases of each
    letter (query_string has no case-insensitive term syntax)."""

    def apply_value(self, field: str | None, val: SigmaType) -> SigmaType | None:
        if _folds(val):
            assert isinstance(val, SigmaString)
            return SigmaRegularExpression(_folded_regex(val))
        return None


_ESQL_NAME = re.compile(r"^[\w.]+$")


@dataclass
class _CaseFoldEsql(DetectionItemTransformation):
    """ES|QL: ``to_lower(field)`` compared with the lower-cased strings."""

    def apply_detection_item(
        self, detection_item: SigmaDetectionItem
    ) -> SigmaDetection | SigmaDetectionItem | None:
        values = detection_item.value
        name = detection_item.field
        if name is None or not values or not all(_folds(v) for v in values):
            return None
        quoted = name if _ESQL_NAME.match(name) else f"`{name}`"
        detection_item.field = f"to_lower({quoted})"
        detection_item.value = [v.lower() for v in values if isinstance(v, SigmaString)]
        self.processing_item_applied(detection_item)
        return None


def elastic_pipeline(target: str = "lucene") -> ProcessingPipeline:
    """List fields, Sigma's case-insensitive strings and regular expressions for ``target``
    (``lucene`` or ``esql``)."""
    fold: ProcessingItem = (
        ProcessingItem(identifier="mlstix_elastic_case", transformation=_CaseFoldLucene())
        if target == "lucene"
        else ProcessingItem(identifier="mlstix_elastic_case", transformation=_CaseFoldEsql())
    )
    return ProcessingPipeline(
        name="mlstix: list fields, case and regular expressions for Elasticsearch",
        priority=20,
        items=[
            ProcessingItem(
                identifier="mlstix_elastic_lists",
                transformation=FieldFunctionTransformation(
                    {}, lambda name: (name or "").replace("{}", "")
                ),
            ),
            fold,
            ProcessingItem(identifier="mlstix_elastic_regex", transformation=_LuceneRegex()),
        ],
    )


MAPPINGS = "elastic-index-template.json"
# read with a regular expression over their JSON text, but objects in the events as delivered:
# Elasticsearch indexes only an object's leaves (and rejects a document whose object meets a
# wildcard mapping), so these need the shipper to write them as text (docs/detect.md)
OBJECT_VALUED = frozenset({"requestParameters.bucketPolicy"})
_KEYWORD_LIMIT = 8191  # Lucene's 32766-byte term limit over 4-byte UTF-8 characters


def _regex_fields(items: list[Any]) -> set[str]:
    out: set[str] = set()
    for item in items:
        if isinstance(item, SigmaDetection):
            out |= _regex_fields(item.detection_items)
        elif any(isinstance(v, SigmaRegularExpression) for v in item.value) and item.field:
            out.add(item.field.replace("{}", ""))
    return out


def index_template(rules: list[Any]) -> str:
    """An index template under which the exported queries read the events as they were written.

    Elasticsearch maps a string it has not seen as ``text`` (analysed: a whole-value term, wildcard
    or regular expression no longer applies) with a ``keyword`` sub-field that ignores values over
    256 characters; ECS templates use 1024. A value over ``ignore_above`` is not indexed at all, so
    no query can match it: an IAM policy or bucket policy is often longer, and a policy-document
    rule would silently miss exactly the long ones. Here every string is a ``keyword`` up to
    Lucene's term limit, and every field a rule reads with a regular expression is a ``wildcard``
    field, which indexes values of any length for wildcard and regexp queries (except
    :data:`OBJECT_VALUED`, which the shipper must first turn into text)."""
    fields: set[str] = set()
    for rule in rules:
        for detection in rule.detection.detections.values():
            fields |= _regex_fields(detection.detection_items)
    properties: dict[str, Any] = {}
    for name in sorted(fields - OBJECT_VALUED):
        node = properties
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[leaf] = {"type": "wildcard"}
    template = {
        "index_patterns": ["cloudtrail-*", "azure-activity-*", "gcp-audit-*", "k8s-audit-*"],
        "template": {
            "mappings": {
                "dynamic_templates": [
                    {
                        "strings_as_keywords": {
                            "match_mapping_type": "string",
                            "mapping": {"type": "keyword", "ignore_above": _KEYWORD_LIMIT},
                        }
                    }
                ],
                "properties": properties,
            }
        },
        "_meta": {
            "description": "mlstix detect export: index template for the exported queries "
            "(PUT _index_template/mlstix-audit with this body; adjust index_patterns)"
        },
    }
    return json.dumps(template, indent=2, sort_keys=True) + "\n"
