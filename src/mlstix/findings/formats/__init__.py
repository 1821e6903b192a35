"""Output formats of a :class:`~mlstix.findings.model.Report`.

Each format is one module exposing ``render(report, kb) -> str | bytes``; :data:`FORMATS` is the
registry the CLI reads. Register a new format by adding it to :func:`formats`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from mlstix.findings.model import Report
from mlstix.kb.graph import KnowledgeBase

__all__ = ["FORMAT_NAMES", "render"]

Renderer = Callable[[Report, KnowledgeBase], "str | bytes"]

# format name -> module under mlstix.findings.formats (imported only when used)
_MODULES: dict[str, str] = {
    "json": "json_format",
    "sarif": "sarif",
    "stix": "stix",
    "markdown": "markdown",
    "html": "html",
    # "sarif", "stix", "markdown", "html": added as their modules land
}

FORMAT_NAMES: tuple[str, ...] = ("table", *_MODULES)


def render(fmt: str, report: Report, kb: KnowledgeBase) -> str | bytes:
    module = import_module(f"mlstix.findings.formats.{_MODULES[fmt]}")
    fn: Renderer = module.render
    return fn(report, kb)
