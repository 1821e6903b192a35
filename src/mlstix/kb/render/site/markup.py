"""HTML text helpers shared by the explorer site and the HTML scan report.

Two kinds of text reach HTML here, and each has one way in:

- :func:`esc` for plain text (names, keys, and above all anything a scanner read from a scanned
  file: a finding's message or evidence is attacker-controlled). It escapes ``& < > " '``, so the
  result is safe in element content and in quoted attribute values.
- :func:`markdown` for the knowledge base's authored prose, rendered with markdown-it-py in its
  CommonMark preset with raw HTML disabled (``html: False``): a ``<script>`` in the source comes
  out as text, and markdown-it's link validation drops ``javascript:``/``vbscript:``/``data:``
  links.

markdown-it-py is already a dependency of rich, which mlstix requires.
"""

from __future__ import annotations

import html
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = ["esc", "markdown"]


def esc(text: object) -> str:
    """``text`` as HTML-escaped text, quotes included."""
    return html.escape(str(text), quote=True)


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown(text: str) -> str:
    """Authored Markdown as HTML, raw HTML in the source escaped."""
    return str(_parser().render(text.strip()))
