"""The tree-sitter HCL concrete syntax tree → values and expression trees (:class:`Node`).

Used by :mod:`mlstix.scan.iac._hcl`, which parses files and documents the value shape.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from mlstix.scan.iac._hclnode import (
    MAX_DEPTH,
    HclSyntaxError,
    Node,
    literal_text,
    too_deep,
    unescape,
)
from mlstix.scan.iac._hcltemplate import TemplateMixin

__all__ = ["Converter", "parser"]


@cache
def parser() -> Any:
    import tree_sitter
    import tree_sitter_hcl

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_hcl.language()))


class Converter(TemplateMixin):
    def __init__(self, source: bytes, line_offset: int = 0) -> None:
        self.source = source
        self.line_offset = line_offset

    def text(self, node: Any) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def body(self, node: Any, depth: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if depth > MAX_DEPTH:
            raise too_deep()
        for child in node.named_children:
            if child.type == "attribute":
                key = self.text(child.named_children[0])
                if key in out:
                    line = child.start_point[0] + 1 + self.line_offset
                    raise HclSyntaxError(f"attribute {key!r} redefined at line {line}")
                out[key] = self.expression(child.named_children[1], depth + 1)
            elif child.type == "block":
                name, labels, inner = self.block_parts(child, depth)
                if labels:  # dynamic "x" { ... }
                    out.setdefault(name, []).append({labels[0]: inner})
                else:
                    out.setdefault(name, []).append(inner)
        return out

    def block_parts(self, node: Any, depth: int) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        name = ""
        labels: list[str] = []
        inner: dict[str, Any] = {}
        for child in node.named_children:
            if child.type == "identifier" and not name:
                name = self.text(child)
            elif child.type == "identifier":
                labels.append(self.text(child))
            elif child.type == "string_lit":
                labels.append(unescape(self._quoted(child)))
            elif child.type == "body":
                inner = self.body(child, depth + 1)
        return name, tuple(labels), inner

    def _quoted(self, node: Any) -> str:
        """The raw text between the quotes of a string literal or quoted template."""
        return self.source[node.start_byte + 1 : node.end_byte - 1].decode("utf-8", "replace")

    def expression(self, node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise too_deep()
        named = [c for c in node.named_children if c.type != "comment"]
        if node.type != "expression":
            return self.term(node, depth + 1)
        if len(named) == 1:
            return self.term(named[0], depth + 1)
        if len(named) > 1:
            base = self.term(named[0], depth + 1)
            steps = tuple(self._step(s, depth + 1) for s in named[1:])
            return Node("trav", (base, steps), self.text(node))
        return Node("unknown", (), self.text(node))

    def _step(self, node: Any, depth: int) -> tuple[Any, ...]:
        if node.type == "get_attr":
            return ("attr", self.text(node.named_children[-1]))
        if node.type == "index":
            inner = node.named_children[0]
            if inner.type == "legacy_index":
                return ("index", int(self.text(inner).lstrip(".")))
            exprs = [c for c in inner.named_children if c.type == "expression"]
            return ("index", self.expression(exprs[0], depth + 1) if exprs else None)
        if node.type == "splat":
            inner = node.named_children[0]
            return ("splat", tuple(self._step(s, depth + 1) for s in inner.named_children))
        return ("attr", self.text(node))

    def term(self, node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise too_deep()
        kind = node.type
        if kind == "expression":
            return self.expression(node, depth + 1)
        if kind == "literal_value":
            return self._literal(node.named_children[0])
        if kind == "variable_expr":
            return Node("var", (self.text(node),), self.text(node))
        if kind == "template_expr":
            inner = node.named_children[0]
            return self._template(inner, depth, inner.type == "quoted_template")
        if kind == "collection_value":
            coll = node.named_children[0]
            if coll.type == "tuple":
                return [
                    self.expression(e, depth + 1)
                    for e in coll.named_children
                    if e.type == "expression"
                ]
            if coll.type == "object":
                return self._object(coll, depth)
        if kind == "function_call":
            return self._call(node, depth)
        if kind == "conditional":
            parts = [self.expression(e, depth + 1) for e in node.named_children]
            if len(parts) == 3:
                return Node("cond", tuple(parts), self.text(node))
        if kind == "operation":
            return self._operation(node.named_children[0], depth)
        if kind == "for_expr":
            return self._for(node.named_children[0], depth)
        return Node("unknown", (), self.text(node))

    def _call(self, node: Any, depth: int) -> Any:
        name = self.text(node.named_children[0])
        args_nodes = [a for a in node.named_children if a.type == "function_arguments"]
        args: list[Any] = []
        expand = False
        if args_nodes:
            for a in args_nodes[0].named_children:
                if a.type == "expression":
                    args.append(self.expression(a, depth + 1))
                elif a.type == "ellipsis":
                    expand = True
        return Node("call", (name, tuple(args), expand), self.text(node))

    def _operation(self, op: Any, depth: int) -> Any:
        # operands are not wrapped: `var.a == 1` is variable_expr, get_attr, "==", literal_value
        sides: list[list[Any]] = [[]]
        symbol = ""
        for c in op.children:
            if c.type == "comment":
                continue
            if not c.is_named and not symbol and c.type not in ("(", ")"):
                symbol = c.type
                sides.append([])
            elif c.is_named:
                sides[-1].append(c)
        operands = [self._operand(side, depth) for side in sides if side]
        if op.type == "unary_operation" and len(operands) == 1:
            value = operands[0]
            if symbol == "-" and isinstance(value, int | float) and not isinstance(value, bool):
                return -value
            return Node("un", (symbol, value), self.text(op))
        if op.type == "binary_operation" and len(operands) == 2:
            return Node("bin", (symbol, *operands), self.text(op))
        return Node("unknown", (), self.text(op))

    def _operand(self, nodes: list[Any], depth: int) -> Any:
        if len(nodes) == 1:
            return self.term(nodes[0], depth + 1)
        base = self.term(nodes[0], depth + 1)
        steps = tuple(self._step(s, depth + 1) for s in nodes[1:])
        src = self.source[nodes[0].start_byte : nodes[-1].end_byte].decode("utf-8", "replace")
        return Node("trav", (base, steps), src)

    def _for(self, node: Any, depth: int) -> Any:
        intro = next(c for c in node.named_children if c.type == "for_intro")
        idents = [self.text(c) for c in intro.named_children if c.type == "identifier"]
        coll = next(c for c in intro.named_children if c.type == "expression")
        exprs = [c for c in node.named_children if c.type == "expression"]
        cond = next((c for c in node.named_children if c.type == "for_cond"), None)
        is_object = node.type == "for_object_expr"
        grouping = any(c.type == "ellipsis" for c in node.named_children)
        key_var, value_var = (idents[0], idents[1]) if len(idents) == 2 else (None, idents[0])
        key = self.expression(exprs[0], depth + 1) if is_object else None
        value = self.expression(exprs[-1], depth + 1)
        test = self.expression(cond.named_children[0], depth + 1) if cond is not None else None
        args = (is_object, key_var, value_var, self.expression(coll, depth + 1))
        return Node("for", (*args, key, value, test, grouping), self.text(node))

    def _literal(self, node: Any) -> Any:
        kind = node.type
        if kind == "numeric_lit":
            raw = self.text(node)
            try:
                return int(raw)
            except ValueError:
                return float(raw)
        if kind == "bool_lit":
            return self.text(node) == "true"
        if kind == "null_lit":
            return None
        return literal_text(self._quoted(node), True)

    def _object(self, node: Any, depth: int) -> Any:
        pairs: list[tuple[Any, Any]] = []
        for elem in node.named_children:
            if elem.type != "object_elem":
                continue
            exprs = [c for c in elem.named_children if c.type == "expression"]
            if len(exprs) != 2:
                continue
            key_named = [c for c in exprs[0].named_children if c.type != "comment"]
            if len(key_named) == 1 and key_named[0].type == "variable_expr":
                key: Any = self.text(key_named[0])  # a bare name is the key itself
            else:
                key = self.expression(exprs[0], depth + 1)
            pairs.append((key, self.expression(exprs[1], depth + 1)))
        if all(isinstance(k, str) for k, _ in pairs):
            return dict(pairs)
        return Node("object", tuple(pairs), self.text(node))
