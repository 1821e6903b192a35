"""IAM policy documents, whatever the IaC wrote them as, reduced to a list of statements.

Sources: a mapping (CloudFormation ``PolicyDocument``), a JSON string (heredoc), Terraform
``jsonencode({...})`` (which the HCL parser renders as a Python literal inside ``${}``; read with
:func:`ast.literal_eval`, never evaluated), and a reference to a ``data.aws_iam_policy_document``
in the same module, converted to the JSON grammar (IAM JSON policy reference), with the documents
it composes (``source_policy_documents``, ``override_policy_documents``). None = unknown.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from collections.abc import Mapping
from typing import Any

from mlstix.scan.iac._values import Expr
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac.context import Context

__all__ = ["as_list", "decode_json_value", "grants_all", "matches_action", "statements"]

_DOC_REF = re.compile(r"^\$\{data\.aws_iam_policy_document\.([\w-]+)\.json\}$")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def decode_json_value(value: Any) -> Any:
    """A JSON-ish document from a mapping, a JSON string or a Terraform ``jsonencode``."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, Expr):
        text = str(value)
        if text.startswith("${jsonencode(") and text.endswith(")}"):
            try:
                return ast.literal_eval(text[len("${jsonencode(") : -2])
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
        if text.startswith("{") and '"Fn::Sub"' in text:
            try:
                sub = json.loads(text)["Fn::Sub"]
                template = sub[0] if isinstance(sub, list) else sub
                return json.loads(re.sub(r"\$\{([^}]*)\}", r"\1", template))
            except (ValueError, KeyError, TypeError, IndexError):
                return None
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def _merge(into: list[Mapping[str, Any]], extra: list[Mapping[str, Any]]) -> None:
    """Statements with a ``Sid`` replace those of ``into`` with the same one; others append."""
    for st in extra:
        sid = st.get("Sid")
        at = next((i for i, s in enumerate(into) if sid and s.get("Sid") == sid), None)
        if at is None:
            into.append(st)
        else:
            into[at] = st


def _from_document(doc: Resource, ctx: Context, depth: int) -> list[Mapping[str, Any]] | None:
    """The statements of a ``data.aws_iam_policy_document`` as the AWS provider builds them:
    ``source_policy_documents`` first, the document's own ``statement`` blocks replacing those
    with the same ``sid``, then ``override_policy_documents`` replacing by ``sid`` (others
    appended). A source document that cannot be known is left out (it cannot take away what
    the others grant); an override that cannot be known makes the whole document unknown."""
    out: list[Mapping[str, Any]] = []
    for src in as_list(doc.attributes.get("source_policy_documents")):
        found = statements(src, ctx, doc, depth + 1)
        out.extend(found or [])
    _merge(out, _own_statements(doc))
    for src in as_list(doc.attributes.get("override_policy_documents")):
        found = statements(src, ctx, doc, depth + 1)
        if found is None:
            return None
        _merge(out, list(found))
    return out


def _own_statements(doc: Resource) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for st in as_list(doc.attributes.get("statement")):
        if not isinstance(st, Mapping):
            continue
        cond: dict[str, dict[str, Any]] = {}
        for c in as_list(st.get("condition")):
            if isinstance(c, Mapping):
                cond.setdefault(str(c.get("test")), {})[str(c.get("variable"))] = c.get("values")
        item: dict[str, Any] = {"Effect": st.get("effect", "Allow"), "Condition": cond}
        if isinstance(st.get("sid"), str) and st["sid"]:
            item["Sid"] = st["sid"]
        for src, dst in (
            ("actions", "Action"),
            ("not_actions", "NotAction"),
            ("resources", "Resource"),
            ("not_resources", "NotResource"),
        ):
            if src in st:
                item[dst] = st[src]
        out.append(item)
    return out


def statements(
    value: Any, ctx: Context, owner: Resource, depth: int = 0
) -> list[Mapping[str, Any]] | None:
    """The statements of a policy value, or None when it cannot be known statically."""
    if isinstance(value, Expr):
        m = _DOC_REF.match(str(value))
        if m:
            if depth > 8:
                return None  # documents composed deeper than this (or in a cycle): unknown
            for doc in ctx.reads(owner.scope, "terraform", "aws_iam_policy_document"):
                if doc.name == m.group(1) and doc.module == owner.module:
                    return _from_document(doc, ctx, depth)
            return None
    doc = decode_json_value(value)
    if not isinstance(doc, Mapping):
        return None
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, Mapping)]


def matches_action(patterns: Any, action: str) -> bool:
    return any(
        isinstance(p, str) and fnmatch.fnmatchcase(action.lower(), p.lower())
        for p in as_list(patterns)
    )


def grants_all(statement: Mapping[str, Any], service: str) -> bool:
    """An Allow statement that grants every action of ``service`` (``svc:*`` or ``*``)."""
    if str(statement.get("Effect", "Allow")).lower() != "allow":
        return False
    probes = [f"{service}:*", f"{service}:zzUnlisted", f"{service}:Delete*"]
    if "Action" in statement:
        return any(
            isinstance(p, str) and p.strip().lower() in ("*", f"{service}:*")
            for p in as_list(statement["Action"])
        )
    if "NotAction" in statement:
        return not any(matches_action(statement["NotAction"], p) for p in probes)
    return False
