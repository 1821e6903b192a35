"""HCL templates (quoted strings and heredocs) → text, or a :class:`Node` to evaluate.

Interpolations ``${...}``, directives ``%{ if }``/``%{ else }``/``%{ endif }`` and ``%{ for }``/
``%{ endfor }``, strip markers ``~`` and ``<<-`` indentation, as Terraform reads them (checked
against ``terraform plan`` in tests/scan_iac/test_terraform_differential.py): in a heredoc a
strip marker trims only the adjacent line's whitespace, because HCL scans heredocs line by line.
"""

from __future__ import annotations

import re
from typing import Any

from mlstix.scan.iac._hclnode import MAX_DEPTH, Node, literal_text, too_deep

__all__ = ["TemplateMixin"]


class TemplateMixin:
    """Template conversion for :class:`~mlstix.scan.iac._hclconv.Converter`."""

    source: bytes

    def text(self, node: Any) -> str:
        raise NotImplementedError

    def expression(self, node: Any, depth: int) -> Any:
        raise NotImplementedError

    def _template(self, node: Any, depth: int, quoted: bool) -> Any:
        if quoted:
            start, end = node.start_byte + 1, node.end_byte - 1
            strip = 0
        else:
            idents = [c for c in node.children if c.type == "heredoc_identifier"]
            if len(idents) < 2:
                return ""
            raw = self.source[idents[0].end_byte : idents[-1].start_byte]
            nl = raw.find(b"\n")
            start = idents[0].end_byte + (nl + 1 if nl >= 0 else len(raw))
            end = idents[-1].start_byte
            while end > start and self.source[end - 1 : end] in (b" ", b"\t"):
                end -= 1  # the closing marker's indentation
            dash = any(c.type == "heredoc_start" and self.text(c) == "<<-" for c in node.children)
            strip = _indent(self.source[start:end].decode("utf-8", "replace")) if dash else 0
        source = self.text(node)
        if strip and "%{" in source and ("~}" in source or "%{~" in source):
            # Terraform dedents a <<- heredoc token by token; with strip markers around
            # directives its result is not reproduced here: unknown, not guessed
            return Node("unknown", (), source)
        parts = self._parts(node.named_children, start, end, depth, quoted, strip)
        if all(isinstance(p, str) for p in parts):
            return "".join(parts)
        return Node("tpl", tuple(parts), self.text(node))

    def _parts(
        self, children: list[Any], start: int, end: int, depth: int, quoted: bool, strip: int
    ) -> list[Any]:
        """Literal text and expressions of a template between ``start`` and ``end``; the
        ``~`` strip markers of interpolations and directives trim the adjacent whitespace."""
        if depth > MAX_DEPTH:
            raise too_deep()
        parts: list[Any] = []
        cursor = start
        trim_next = False
        for child in children:
            if child.type not in ("template_interpolation", "template_directive"):
                continue
            text = self._literal_part(cursor, child.start_byte, quoted, strip)
            if trim_next:
                text = _trim_left(text)
            left, right = self._strips(child)
            parts.append(_trim_right(text) if left else text)
            if child.type == "template_interpolation":
                exprs = [c for c in child.named_children if c.type == "expression"]
                parts.append(
                    self.expression(exprs[0], depth + 1)
                    if exprs
                    else Node("unknown", (), self.text(child))
                )
            else:
                parts.append(self._directive(child, depth + 1, quoted, strip))
            trim_next = right
            cursor = child.end_byte
        tail = self._literal_part(cursor, end, quoted, strip)
        parts.append(_trim_left(tail) if trim_next else tail)
        return [p for p in parts if p != ""]

    def _literal_part(self, start: int, end: int, quoted: bool, strip: int) -> str:
        text = self.source[start:end].decode("utf-8", "replace")
        if strip:
            text = _dedent(text, strip, start == 0 or self.source[start - 1 : start] == b"\n")
        return literal_text(text, quoted)

    def _strips(self, node: Any) -> tuple[bool, bool]:
        """Whether a ``~`` trims whitespace before (left) and after (right) ``node``."""
        inner = node.named_children[0] if node.type == "template_directive" else node
        first = inner.named_children[0] if inner.named_children else inner
        last = inner.named_children[-1] if inner.named_children else inner
        left = (
            any(c.type == "strip_marker" for c in first.children[:2])
            or self.source[node.start_byte + 2 : node.start_byte + 3] == b"~"
        )
        right = (
            any(c.type == "strip_marker" for c in last.children[-2:])
            or self.source[node.end_byte - 2 : node.end_byte - 1] == b"~"
        )
        return left, right

    def _directive(self, node: Any, depth: int, quoted: bool, strip: int) -> Any:
        """``%{ if }``/``%{ else }``/``%{ endif }`` and ``%{ for }``/``%{ endfor }``."""
        inner = node.named_children[0] if node.named_children else node
        kids = list(inner.named_children)
        if inner.type == "template_if" and kids and kids[0].type == "template_if_intro":
            exprs = [c for c in kids[0].named_children if c.type == "expression"]
            split = next((i for i, c in enumerate(kids) if c.type == "template_else_intro"), None)
            last = len(kids) - 1
            then_end = kids[split].start_byte if split is not None else kids[last].start_byte
            then = self._branch(kids[1 : split or last], kids[0], then_end, depth, quoted, strip)
            other: Any = ""
            if split is not None:
                other = self._branch(
                    kids[split + 1 : last], kids[split], kids[last].start_byte, depth, quoted, strip
                )
            if exprs:
                test = self.expression(exprs[0], depth + 1)
                return Node("tif", (test, then, other), self.text(node))
        if inner.type == "template_for" and kids and kids[0].type == "template_for_start":
            intro = kids[0]
            names = [self.text(c) for c in intro.named_children if c.type == "identifier"]
            exprs = [c for c in intro.named_children if c.type == "expression"]
            if exprs and names:
                body = self._branch(kids[1:-1], intro, kids[-1].start_byte, depth, quoted, strip)
                key, value = (names[0], names[1]) if len(names) == 2 else (None, names[0])
                coll = self.expression(exprs[0], depth + 1)
                return Node("tfor", (key, value, coll, body), self.text(node))
        return Node("unknown", (), self.text(node))

    def _branch(
        self, kids: list[Any], opener: Any, end: int, depth: int, quoted: bool, strip: int
    ) -> Any:
        parts = self._parts(kids, opener.end_byte, end, depth + 1, quoted, strip)
        _, right = self._strips_of(opener)
        if right and parts and isinstance(parts[0], str):
            parts[0] = _trim_left(parts[0])
        if parts and isinstance(parts[-1], str) and self._closer_strips(end):
            parts[-1] = _trim_right(parts[-1])
        parts = [p for p in parts if p != ""]
        if all(isinstance(p, str) for p in parts):
            return "".join(parts)
        return Node("tpl", tuple(parts), "")

    def _strips_of(self, marker: Any) -> tuple[bool, bool]:
        kinds = [c.type for c in marker.children]
        return kinds[:2].count("strip_marker") > 0, kinds[-2:].count("strip_marker") > 0

    def _closer_strips(self, end: int) -> bool:
        """The directive that starts at ``end`` (``%{~ else }``, ``%{~ endif }``) trims left."""
        return self.source[end + 2 : end + 3] == b"~"


def _trim_left(text: str) -> str:
    """A ``~}`` strip: the whitespace of the adjacent token (in a heredoc, up to its line end)."""
    return re.sub(r"^[ \t]*(\r?\n)?", "", text, count=1) if "\n" in text else text.lstrip()


def _trim_right(text: str) -> str:
    """A ``%{~``/``${~`` strip: the whitespace before it on its line, or the previous line's
    end when the marker opens its line."""
    head, nl, tail = text.rpartition("\n")
    if not nl:
        return text.rstrip()
    if tail:
        return head + nl + tail.rstrip(" \t") if tail.strip(" \t") else head + nl
    return head.rstrip(" \t\r")


def _indent(text: str) -> int:
    widths = [len(line) - len(line.lstrip(" \t")) for line in text.split("\n") if line.strip()]
    return min(widths) if widths else 0


def _dedent(text: str, strip: int, at_line_start: bool) -> str:
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        if i > 0 or at_line_start:
            cut = 0
            while cut < strip and cut < len(line) and line[cut] in " \t":
                cut += 1
            line = line[cut:]
        out.append(line)
    return "\n".join(out)
