"""The offline HTML explorer of the knowledge base: a static site that works from ``file://``.

Layout of the generated folder::

    index.html              search, the interactive graph (filters by type and category), lists
    objects/<key>.html      one page per object: description, example, detection, references,
                            relationships; courses of action get a tab per cloud and the list
                            of the benchmark controls that implement them
    controls/<id>.html      one page per benchmark control (statement, audit, remediation,
                            mappings), linked from its courses of action
    assets/site.css         styles (print styles included)
    assets/site.js          search box, graph, tabs (no framework)
    assets/data.js          GENERATED: ``window.MLSTIX_DATA`` = search index + graph elements
    assets/vendor/          Cytoscape.js, vendored from npm at package build time (see its README)
    .mlstix-site            manifest of the files written, so a rebuild can remove stale pages

Nothing is loaded from the network: every script and style is a relative file, and data is a
script rather than JSON because ``fetch()`` of local files is blocked on ``file://``. Output is
deterministic: the same knowledge base gives byte-identical files.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from mlstix._io import write_many_atomic
from mlstix.errors import UsageError
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.render.site._controls import control_pages
from mlstix.kb.render.site._data import data_js, page_path
from mlstix.kb.render.site._pages import index_page, object_page

__all__ = ["MANIFEST", "render_site", "write_site"]

MANIFEST = ".mlstix-site"
_STATIC = (
    "site.css",
    "site.js",
    "vendor/cytoscape.min.js",
    "vendor/cytoscape.LICENSE",
    "vendor/README.md",
)


def _asset(name: str) -> bytes:
    return (resources.files("mlstix.kb.render.site") / "assets" / name).read_bytes()


def render_site(kb: KnowledgeBase) -> dict[str, bytes]:
    """Relative path → content of every file of the site (manifest excluded)."""
    files: dict[str, bytes] = {"index.html": index_page(kb).encode("utf-8")}
    for obj in kb.objects:
        files[page_path(obj.key)] = object_page(kb, obj).encode("utf-8")
    for path, page in control_pages(kb).items():
        files[path] = page.encode("utf-8")
    files["assets/data.js"] = data_js(kb).encode("utf-8")
    for name in _STATIC:
        files[f"assets/{name}"] = _asset(name)
    return dict(sorted(files.items()))


def _previous_files(out: Path) -> list[str]:
    """Files a previous build wrote into ``out``; refuse folders we did not make."""
    if not out.exists():
        return []
    if not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    marker = out / MANIFEST
    if not marker.is_file():
        if any(out.iterdir()):
            raise UsageError(
                f"{out} is not empty and is not an mlstix site (no {MANIFEST} file)",
                hint="choose a new or empty folder; mlstix only replaces a site it wrote",
            )
        return []
    try:
        listed = json.loads(marker.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{marker} is unreadable: {exc}", hint="delete the folder") from None
    return [f for f in listed if isinstance(f, str)]


def write_site(kb: KnowledgeBase, out: Path) -> list[Path]:
    """Write the site into ``out`` (new, empty, or a site written before); return the files.

    Everything is rendered first and written with temporary files and renames, so a failure
    leaves the previous site whole. Pages of objects that no longer exist are removed.
    """
    previous = _previous_files(out)
    files = render_site(kb)
    manifest = json.dumps({"generator": "mlstix kb site", "files": sorted(files)}, indent=1)
    targets: dict[Path, bytes | str] = {out / rel: data for rel, data in files.items()}
    targets[out / MANIFEST] = manifest + "\n"
    write_many_atomic(targets)
    root = out.resolve()
    for rel in previous:
        stale = (out / rel).resolve()
        if rel not in files and stale.is_relative_to(root) and stale.is_file():
            stale.unlink()
    return sorted(out / rel for rel in files)
