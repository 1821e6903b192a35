"""Load the authored YAML into a checked :class:`KnowledgeBase`.

Loading is all-or-nothing: every problem in every file is collected and raised together as one
:class:`KbDataError` whose lines each name the file and the field, so an author fixes a batch of
mistakes in one pass. Checks beyond the per-file schema (``model.py``):

- YAML syntax, duplicate mapping keys inside a file, one object per file, file named ``<key>.yaml``;
- no duplicate key or STIX id across files (relationship and note ids included);
- every edge points at a known key of the right kind (attack pattern → vulnerability;
  course of action → attack pattern or vulnerability), every MITRE mapping at a catalogued object;
- the graph has no holes: every vulnerability is targeted and mitigated, every attack pattern
  mitigated, every course of action mitigates at least one vulnerability.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mlstix.errors import KbDataError
from mlstix.kb._yaml import Loader, problem
from mlstix.kb.detections import load_detections
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import AttackPattern, CourseOfAction, MitreObject, Vulnerability

__all__ = ["active_data_dir", "data_dir", "load_kb", "load_kb_from"]

_M = TypeVar("_M", bound=BaseModel)

_FOLDERS: dict[str, type[BaseModel]] = {
    "attack-patterns": AttackPattern,
    "vulnerabilities": Vulnerability,
    "courses-of-action": CourseOfAction,
    "mitre": MitreObject,
}

# folders read by their own loaders (kb/controls.py reads benchmark/, kb/detections.py sigma/)
_OTHER_FOLDERS = frozenset({"benchmark", "sigma"})

_cache: dict[Path, KnowledgeBase] = {}
_NAME_HINT = " (the object's key)"


def data_dir() -> Path:
    """The authored data shipped inside the package."""
    return Path(str(resources.files("mlstix.kb") / "data"))


def active_data_dir() -> Path:
    """The data folder :func:`load_kb` reads: the packaged data, unless the environment variable
    ``MLSTIX_KB_DATA`` names another data folder (authors use it to try changes on a copy)."""
    override = os.environ.get("MLSTIX_KB_DATA")
    return Path(override) if override else data_dir()


def load_kb() -> KnowledgeBase:
    """The knowledge base of :func:`active_data_dir`, loaded once per process."""
    return load_kb_from(active_data_dir())


def load_kb_from(root: Path) -> KnowledgeBase:
    root = root.resolve()
    if root not in _cache:
        try:
            _cache[root] = _load(root)
        except KbDataError as exc:
            if root == data_dir().resolve():
                raise
            raise KbDataError(exc.problems, folder=root) from None
    return _cache[root]


class _UniqueKeyLoader(Loader):
    """A safe loader that refuses a mapping with the same key twice."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate field {key!r}", key_node.start_mark
            )
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _files(root: Path, folder: str) -> Iterator[Path]:
    base = root / folder
    if base.is_dir():
        yield from sorted(base.glob("*.yaml"))


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _parse(path: Path, model: type[_M], rel: str, problems: list[str]) -> _M | None:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{rel}: cannot read: {exc}")
        return None
    except yaml.YAMLError as exc:
        problems.append(f"{rel}: YAML syntax: {problem(exc)}")
        return None
    if not isinstance(raw, dict):
        problems.append(f"{rel}: expected one mapping (one object per file)")
        return None
    try:
        obj = model.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            field = _field_path(tuple(err["loc"]))
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            elif err["type"] == "missing":
                msg = "missing field"
            elif err["type"] == "string_pattern_mismatch":
                msg = f"{err['input']!r} does not match the pattern {err['ctx']['pattern']}"
            problems.append(f"{rel}: field {field}: {msg}")
        return None
    expected = getattr(obj, "key", None)
    if expected is not None and path.stem != expected:
        problems.append(f"{rel}: file name must be {expected}.yaml{_NAME_HINT}")
    return obj


def _load(root: Path) -> KnowledgeBase:
    problems: list[str] = []
    parsed: dict[str, list[tuple[str, BaseModel]]] = {}
    for folder, model in _FOLDERS.items():
        for path in _files(root, folder):
            rel = f"{folder}/{path.name}"
            obj = _parse(path, model, rel, problems)
            if obj is not None:
                parsed.setdefault(folder, []).append((rel, obj))
    unknown = (
        sorted(
            p.name
            for p in root.iterdir()
            if p.is_dir()
            and p.name not in _FOLDERS
            and p.name not in _OTHER_FOLDERS
            and p.name[0] != "_"
        )
        if root.is_dir()
        else []
    )
    if not root.is_dir():
        problems.append(f"{root}: knowledge-base data folder not found")
    for name in unknown:
        problems.append(f"{name}/: unknown folder (expected one of {', '.join(_FOLDERS)})")
    if any(not p.endswith(_NAME_HINT) for p in problems):
        raise KbDataError(problems)
    # Only file-name problems so far: assemble anyway so that, say, a copied file reports both
    # its name and the duplicate key it introduces.
    try:
        kb = KnowledgeBase.assemble(
            attack_patterns=[(r, o) for r, o in parsed.get("attack-patterns", [])],  # type: ignore[misc]
            vulnerabilities=[(r, o) for r, o in parsed.get("vulnerabilities", [])],  # type: ignore[misc]
            courses_of_action=[(r, o) for r, o in parsed.get("courses-of-action", [])],  # type: ignore[misc]
            mitre=[(r, o) for r, o in parsed.get("mitre", [])],  # type: ignore[misc]
        )
    except KbDataError as exc:
        raise KbDataError([*problems, *exc.problems]) from None
    detections = load_detections(root / "sigma", kb, problems)
    if problems:
        raise KbDataError(problems)
    return dataclasses.replace(kb, detections=detections)
