"""Build the published artifacts of the knowledge base into a folder.

The tree is the one the repository commits: ``stix/*.json``, ``relationship-diagram.md`` and
``docs/reference/`` (with ``benchmark.md``, the benchmark's controls). Everything is rendered in
memory first, then written with :func:`mlstix._io.write_many_atomic`, so a failed build leaves no
file half-written; stale reference pages of objects that no longer exist are removed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlstix._io import write_many_atomic
from mlstix.errors import KbDataError
from mlstix.kb._released import FILE_NAME, check_release, read_release, release_document
from mlstix.kb.compile import BUNDLE_FILES, compile_kb, serialize_bundle
from mlstix.kb.controls import load_benchmark
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.load import active_data_dir, data_dir
from mlstix.kb.render.benchmark import benchmark_markdown
from mlstix.kb.render.diagram import diagram_markdown
from mlstix.kb.render.markdown import reference_pages

__all__ = ["record_release", "render_tree", "write_tree"]

_FOLDERS = {
    "attack-pattern": "attack-patterns",
    "vulnerability": "vulnerabilities",
    "course-of-action": "courses-of-action",
}


def _sources(kb: KnowledgeBase) -> dict[str, str]:
    """STIX id -> the authored file whose ``modified`` the object carries."""
    out = {o.id: f"{_FOLDERS[o.kind]}/{o.key}.yaml" for o in kb.objects}
    by_key = {o.key: f"{_FOLDERS[o.kind]}/{o.key}.yaml" for o in kb.objects}
    out.update({r.id: by_key[r.source] for r in kb.relationships if r.source in by_key})
    out.update({m.id: f"mitre/{m.external_id}.yaml" for m in kb.mitre})
    for rule in kb.detections.rules:
        out[rule.indicator_id] = out[rule.indicates_id] = rule.path
    return out


def _bundle_objects(files: dict[str, str]) -> list[dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    for name in BUNDLE_FILES:
        for obj in json.loads(files[f"stix/{name}"])["objects"]:
            objects[obj["id"]] = obj
    return list(objects.values())


def render_tree(kb: KnowledgeBase, data: Path | None = None) -> dict[str, str]:
    """Relative path → content of every generated file.

    ``data``: the data folder whose ``released.json`` the objects are checked against (default:
    the one :func:`~mlstix.kb.load.load_kb` reads); an object changed since that release without
    a later ``modified`` fails the build (:class:`KbDataError`).
    """
    compiled = compile_kb(kb)
    files: dict[str, str] = {}
    for name, objects in compiled.bundles().items():
        files[f"stix/{name}"] = serialize_bundle(BUNDLE_FILES[name], objects)
    folder = data if data is not None else active_data_dir()
    try:
        release = read_release(folder)
        problems = (
            [] if release is None else check_release(release, _bundle_objects(files), _sources(kb))
        )
    except KbDataError as exc:
        problems = list(exc.problems)
    if problems:  # the hint names a copied data folder (MLSTIX_KB_DATA), as load_kb's does
        copied = folder.resolve() != data_dir().resolve()
        raise KbDataError(problems, folder=folder.resolve() if copied else None)
    files["relationship-diagram.md"] = diagram_markdown(kb)
    for rel, text in reference_pages(kb).items():
        files[f"docs/reference/{rel}"] = text
    # the benchmark compiles with the knowledge base: a broken control fails the build
    files["docs/reference/benchmark.md"] = benchmark_markdown(load_benchmark(kb), kb)
    return files


def record_release(kb: KnowledgeBase, label: str, data: Path | None = None) -> Path:
    """Write ``released.json`` into the data folder: the objects as published now."""
    folder = data if data is not None else active_data_dir()
    files = render_tree(kb, data=folder)
    target = folder / FILE_NAME
    write_many_atomic({target: release_document(label, _bundle_objects(files))})
    return target


def write_tree(kb: KnowledgeBase, out: Path) -> list[Path]:
    files = render_tree(kb)
    targets = {out / rel: text for rel, text in files.items()}
    write_many_atomic(targets)
    reference = out / "docs" / "reference"
    for stale in sorted(reference.rglob("*.md")):
        if stale not in targets:
            stale.unlink()
    return sorted(targets)
