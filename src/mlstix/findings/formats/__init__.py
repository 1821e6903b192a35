"""Output formats of a :class:`~mlstix.findings.model.Report`.

Each format is one module exposing ``render(report, kb) -> str | bytes``; :data:`FORMATS` is the
registry the CLI reads. Register a new format by adding it to :func:`formats`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING

from mlstix.findings.model import Report

if TYPE_CHECKING:
    from mlstix.kb.graph import KnowledgeBase

__all__ = ["FORMAT_NAMES", "render"]

Renderer = Callable[[Report, "KnowledgeBase"], "str | bytes"]

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


def render(
    fmt: str, report: Report, kb: KnowledgeBase | Callable[[], KnowledgeBase]
) -> str | bytes:
    """``report`` in ``fmt``. ``kb`` may be a loader: it is called only for a format that speaks
    the knowledge base's prose, so a JSON report (keys only) does not pay for loading it."""
    if fmt == "json":
        from mlstix.findings.formats.json_format import render as keys_only

        return keys_only(report)
    module = import_module(f"mlstix.findings.formats.{_MODULES[fmt]}")
    fn: Renderer = module.render
    return fn(report, kb() if callable(kb) else kb)
