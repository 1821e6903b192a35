"""The data the explorer's JavaScript reads: the search index and the graph, as ``data.js``.

Browsers block ``fetch()`` of local files on ``file://``, so the data is not a ``.json`` file but
a script that assigns ``window.MLSTIX_DATA``; every page loads it with a plain ``<script src>``.

Search index: an inverted index built here, once, so the browser does no indexing. Each token
(``[a-z0-9]+`` of the lowercased text, the same rule ``site.js`` applies to the query) maps to
``[[doc, weight], ...]``; a field's weight says how much a hit there counts (name 8, aliases and
key 5, summary 3, the rest of the prose 1). 29 objects do not need a search library.

Graph: Cytoscape.js elements with preset positions, computed here so the layout is the same on
every build and every load: three columns (attack patterns, vulnerabilities, courses of action),
each ordered to keep edges short (a few barycentre sweeps, ties broken by key).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import CourseOfAction, KbObject
from mlstix.kb.render.markdown import category_title

__all__ = ["KIND_TITLES", "data_js", "page_path", "tokens"]

KIND_TITLES = {
    "attack-pattern": "Attack patterns",
    "vulnerability": "Vulnerabilities",
    "course-of-action": "Courses of action",
}
_COLUMNS = ("attack-pattern", "vulnerability", "course-of-action")
_COLUMN_GAP = 420
_ROW_GAP = 78
_EDGE_TYPES = ("targets", "mitigates")
_STOP_WORDS = (
    "a an and are as at be by can for from has in into is it its of on or that the their this "
    "to was which with"
)
_STOP = frozenset(_STOP_WORDS.split())


def tokens(text: str) -> list[str]:
    """The search tokens of ``text``; ``site.js`` tokenizes queries the same way."""
    return [t for t in re.findall(r"[a-z0-9]+", text.lower()) if len(t) > 1 and t not in _STOP]


def page_path(key: str) -> str:
    """An object's page, relative to the site root."""
    return f"objects/{key}.html"


def _fields(kb: KnowledgeBase, obj: KbObject) -> list[tuple[int, str]]:
    out = [
        (8, obj.name),
        (5, obj.key.replace("-", " ")),
        (3, obj.summary),
        (1, obj.description),
        (1, obj.example),
        (1, obj.detection),
        (2, category_title(obj)),
        (2, " ".join(obj.references.cwe)),
    ]
    aliases = getattr(obj, "aliases", ())
    out.append((5, " ".join(aliases)))
    for m in obj.references.mitre:
        mo = kb.mitre_object(m.external_id)
        out.append((3, f"{mo.external_id} {mo.name}"))
    if isinstance(obj, CourseOfAction):
        for guidance in obj.cloud.values():
            out.append((2, " ".join(guidance.services)))
            out.append((1, " ".join(guidance.steps)))
    return out


def _search(kb: KnowledgeBase) -> dict[str, Any]:
    docs = []
    weights: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for i, obj in enumerate(kb.objects):
        docs.append(
            {
                "key": obj.key,
                "name": obj.name,
                "kind": obj.kind,
                "category": category_title(obj),
                "summary": " ".join(obj.summary.split()),
                "url": page_path(obj.key),
            }
        )
        for weight, text in _fields(kb, obj):
            for token in set(tokens(text)):
                weights[token][i] += weight
    index = {t: sorted(d.items()) for t, d in sorted(weights.items())}
    return {"docs": docs, "index": index}


def _order(kb: KnowledgeBase) -> dict[str, list[KbObject]]:
    """Column members, ordered by barycentre of their neighbours to shorten edges."""
    columns = {kind: [o for o in kb.objects if o.kind == kind] for kind in _COLUMNS}
    for members in columns.values():
        members.sort(key=lambda o: (o.category, o.key))
    neighbours: dict[str, set[str]] = defaultdict(set)
    for r in kb.relationships:
        if r.type in _EDGE_TYPES:
            neighbours[r.source].add(r.target)
            neighbours[r.target].add(r.source)

    def sweep(kind: str) -> None:
        pos = {o.key: i for members in columns.values() for i, o in enumerate(members)}

        def bary(o: KbObject) -> tuple[float, str]:
            near = [pos[n] for n in sorted(neighbours[o.key]) if n in pos]
            return (sum(near) / len(near) if near else pos[o.key], o.key)

        columns[kind].sort(key=bary)

    for _ in range(3):
        sweep("attack-pattern")
        sweep("course-of-action")
        sweep("vulnerability")
    return columns


def _graph(kb: KnowledgeBase) -> dict[str, Any]:
    nodes = []
    columns = _order(kb)
    tallest = max((len(m) for m in columns.values()), default=0)
    for col, kind in enumerate(_COLUMNS):
        members = columns[kind]
        offset = (tallest - len(members)) * _ROW_GAP / 2
        for row, obj in enumerate(members):
            nodes.append(
                {
                    "data": {
                        "id": obj.key,
                        "label": obj.name,
                        "kind": obj.kind,
                        "category": obj.category,
                        "url": page_path(obj.key),
                    },
                    "position": {"x": col * _COLUMN_GAP, "y": round(offset + row * _ROW_GAP)},
                }
            )
    edges = [
        {"data": {"id": r.id, "source": r.source, "target": r.target, "type": r.type}}
        for r in kb.relationships
        if r.type in _EDGE_TYPES
    ]
    categories = []
    for kind in _COLUMNS:
        seen: dict[str, str] = {}
        for obj in kb.objects:
            if obj.kind == kind:
                seen.setdefault(obj.category, category_title(obj))
        categories.append(
            {
                "kind": kind,
                "title": KIND_TITLES[kind],
                "categories": [{"id": c, "title": t} for c, t in sorted(seen.items())],
            }
        )
    return {"nodes": nodes, "edges": edges, "filters": categories}


def data_js(kb: KnowledgeBase) -> str:
    """``assets/data.js``: deterministic (sorted keys, ASCII-only JSON)."""
    payload = {"search": _search(kb), "graph": _graph(kb)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return (
        "/* GENERATED by `mlstix kb site` from the knowledge base; do not edit. */\n"
        f"window.MLSTIX_DATA = {text};\n"
    )
