"""Build the published artifacts of the knowledge base into a folder.

The tree is the one the repository commits: ``stix/*.json``, ``relationship-diagram.md`` and
``docs/reference/`` (with ``benchmark.md``, the benchmark's controls). Everything is rendered in
memory first, then written with :func:`mlstix._io.write_many_atomic`, so a failed build leaves no
file half-written; stale reference pages of objects that no longer exist are removed.
"""

from __future__ import annotations

from pathlib import Path

from mlstix._io import write_many_atomic
from mlstix.kb.compile import BUNDLE_FILES, compile_kb, serialize_bundle
from mlstix.kb.controls import load_benchmark
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.render.benchmark import benchmark_markdown
from mlstix.kb.render.diagram import diagram_markdown
from mlstix.kb.render.markdown import reference_pages

__all__ = ["render_tree", "write_tree"]


def render_tree(kb: KnowledgeBase) -> dict[str, str]:
    """Relative path → content of every generated file."""
    compiled = compile_kb(kb)
    files: dict[str, str] = {}
    for name, objects in compiled.bundles().items():
        files[f"stix/{name}"] = serialize_bundle(BUNDLE_FILES[name], objects)
    files["relationship-diagram.md"] = diagram_markdown(kb)
    for rel, text in reference_pages(kb).items():
        files[f"docs/reference/{rel}"] = text
    # the benchmark compiles with the knowledge base: a broken control fails the build
    files["docs/reference/benchmark.md"] = benchmark_markdown(load_benchmark(kb), kb)
    return files


def write_tree(kb: KnowledgeBase, out: Path) -> list[Path]:
    files = render_tree(kb)
    targets = {out / rel: text for rel, text in files.items()}
    write_many_atomic(targets)
    reference = out / "docs" / "reference"
    for stale in sorted(reference.rglob("*.md")):
        if stale not in targets:
            stale.unlink()
    return sorted(targets)
