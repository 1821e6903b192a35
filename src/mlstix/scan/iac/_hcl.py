"""HCL (Terraform) source → plain Python values and expression trees, through tree-sitter.

Parser choice, measured here on a 357-line Terraform file (median of 10 warm runs, one process):
tree-sitter-hcl 1.2 parses in ~2 ms, ``bc-python-hcl2`` 0.4 in ~16 ms, ``python-hcl2`` 8.1 in
~48 ms (and ~1.6 s for its first parse in a process, while it builds its Lark parser). This module
converts the concrete syntax tree (grammar: github.com/tree-sitter-grammars/tree-sitter-hcl,
following the HCL native syntax specification) into the value shape of ``terraform show -json``:

- literals become Python values; tuples lists, objects dicts; nested blocks a list of bodies per
  block type (``dynamic "x" {}`` becomes ``{"dynamic": [{"x": body}]}``);
- every other expression becomes a :class:`Node`, a small picklable syntax tree that
  :mod:`mlstix.scan.iac._tfeval` evaluates (templates, references, calls, operators,
  conditionals, ``for`` expressions, splats), carrying its source text for messages.

Large files are parsed in chunks of top-level blocks, so memory follows the chunk, not the file
(tree-sitter holds ~100 bytes per source byte while parsing). Syntax errors name line and column.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlstix.scan.iac._hclconv import Converter, parser
from mlstix.scan.iac._hclnode import HclSyntaxError, Node, TopBlock

__all__ = [
    "HclSyntaxError",
    "Node",
    "TopBlock",
    "parse_attributes",
    "parse_blocks",
    "parse_expression",
]

CHUNK_BYTES = 1024 * 1024
# a top-level block starts at column 0 after a line holding only "}" (the end of the last one)
_BLOCK_START = re.compile(r"\n\}[ \t]*\r?\n(?=[A-Za-z_][\w-]*[ \t]*[\"{A-Za-z_])")


def _first_error(node: Any) -> Any:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_error or current.is_missing:
            return current
        if current.has_error:
            stack.extend(reversed(current.children))
    return node


def _tree(source: bytes, line_offset: int = 0) -> Any:
    tree = parser().parse(source)
    root = tree.root_node
    if root.has_error:
        bad = _first_error(root)
        line, column = bad.start_point
        what = f"missing {bad.type}" if bad.is_missing else "unexpected input"
        raise HclSyntaxError(
            f"HCL syntax error at line {line + 1 + line_offset}, column {column + 1}: {what}"
        )
    return root


def _top_body(root: Any) -> Any | None:
    for child in root.named_children:
        if child.type == "body":
            return child
    return None


def _chunks(text: str) -> Iterator[tuple[str, int]]:
    """Pieces of at least :data:`CHUNK_BYTES` characters, cut between top-level blocks."""
    start, line = 0, 0
    for m in _BLOCK_START.finditer(text):
        cut = m.end()
        if cut - start >= CHUNK_BYTES:
            yield text[start:cut], line
            line += text.count("\n", start, cut)
            start = cut
    yield text[start:], line


def _blocks_of(source: bytes, line_offset: int) -> list[TopBlock]:
    body = _top_body(_tree(source, line_offset))
    if body is None:
        return []
    conv = Converter(source, line_offset)
    out = []
    for child in body.named_children:
        if child.type == "block":
            name, labels, inner = conv.block_parts(child, 0)
            out.append(TopBlock(name, labels, inner, child.start_point[0] + 1 + line_offset))
        elif child.type == "attribute":
            raise HclSyntaxError(
                f"line {child.start_point[0] + 1 + line_offset}: an attribute outside any block"
            )
    return out


def parse_blocks(text: str) -> list[TopBlock]:
    """The top-level blocks of a ``.tf`` file."""
    if len(text) <= CHUNK_BYTES:
        return _blocks_of(text.encode("utf-8"), 0)
    out: list[TopBlock] = []
    try:
        for chunk, line in _chunks(text):
            out.extend(_blocks_of(chunk.encode("utf-8"), line))
    except HclSyntaxError:
        # a cut inside a heredoc or comment breaks a chunk: the whole file decides
        return _blocks_of(text.encode("utf-8"), 0)
    return out


def parse_attributes(text: str) -> dict[str, Any]:
    """The top-level attributes of a ``.tfvars`` file."""
    source = text.encode("utf-8")
    body = _top_body(_tree(source))
    return Converter(source).body(body) if body is not None else {}


def parse_expression(text: str) -> Any:
    """One HCL expression (a ``--var`` value, a string template of ``.tf.json``)."""
    found = parse_attributes(f"x = {text}\n")
    return found.get("x")
