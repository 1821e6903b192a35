"""ATT&CK / ATLAS Navigator layers: what the knowledge base covers, and what a scan exposes.

Layer file format 4.5 of the MITRE ATT&CK Navigator
(https://github.com/mitre-attack/attack-navigator/blob/master/layers/LAYERFORMATv4_5.md). The
ATLAS Navigator is a fork that reads the same format with the domain ``atlas-atlas`` (the domain
of the layers MITRE publishes in mitre-atlas/atlas-navigator-data); the ATT&CK Navigator uses
``enterprise-attack``.

- :func:`coverage_layer`: every technique a knowledge-base object maps to (its ``related-to``
  MITRE mappings), scored by how many objects map to it.
- the building blocks (:class:`Domain`, :func:`base_layer`, :func:`with_parents`,
  :func:`interpolate`) that :mod:`mlstix.findings.navigator` uses for the layer of a scan's
  findings; ``kb`` sits below ``findings`` and does not import it.

Only techniques go into a layer (MITRE mitigations have no cell in a matrix). A sub-technique
brings its parent along with ``showSubtechniques`` set, as MITRE's own ATLAS layers do, so the
scored cell is visible when the layer opens. ``layer_schema`` holds the JSON Schema of the 4.5
format that every layer is checked against before it is written.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlstix import __version__
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import MitreObject

__all__ = [
    "DOMAINS",
    "Domain",
    "base_layer",
    "coverage_layer",
    "dumps",
    "interpolate",
    "techniques_of",
    "with_parents",
]


@dataclass(frozen=True)
class Domain:
    name: str  # the CLI's name: atlas | attack
    layer_domain: str  # the layer's "domain"
    source: str  # MitreObject.source of its techniques
    title: str
    versions: tuple[tuple[str, str], ...]


# ATT&CK version: the catalog under kb/data/mitre/ was checked against ATT&CK v17; a newer
# ATT&CK Navigator offers to upgrade the layer on open. Layer format 4.5 needs navigator >= 4.9.0.
DOMAINS: dict[str, Domain] = {
    "atlas": Domain(
        "atlas",
        "atlas-atlas",
        "mitre-atlas",
        "MITRE ATLAS",
        (("layer", "4.5"), ("navigator", "5.3.2")),
    ),
    "attack": Domain(
        "attack",
        "enterprise-attack",
        "mitre-attack",
        "MITRE ATT&CK Enterprise",
        (("attack", "17"), ("layer", "4.5"), ("navigator", "5.3.2")),
    ),
}

_COVERAGE_GRADIENT = ("#e8f1fb", "#2b6cb0")


def techniques_of(kb: KnowledgeBase, domain: Domain) -> dict[str, MitreObject]:
    return {
        m.external_id: m
        for m in kb.mitre
        if m.source == domain.source and m.id.startswith("attack-pattern--")
    }


def interpolate(colors: Sequence[str], t: float) -> str:
    """The gradient colour at ``t`` in [0, 1], as the Navigator computes it."""
    t = min(max(t, 0.0), 1.0) * (len(colors) - 1)
    i = min(int(t), len(colors) - 2)
    a, b = colors[i], colors[i + 1]
    mix = [
        round(int(a[k : k + 2], 16) + (int(b[k : k + 2], 16) - int(a[k : k + 2], 16)) * (t - i))
        for k in (1, 3, 5)
    ]
    return "#" + "".join(f"{c:02x}" for c in mix)


def with_parents(entries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries sorted by id, each sub-technique's parent present with ``showSubtechniques``."""
    for tid in list(entries):
        if "." in tid.removeprefix("AML."):
            parent = tid.rsplit(".", 1)[0]
            entries.setdefault(parent, {"techniqueID": parent})["showSubtechniques"] = True
    return [entries[k] for k in sorted(entries)]


def base_layer(domain: Domain, name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "versions": dict(domain.versions),
        "domain": domain.layer_domain,
        "description": description,
        "sorting": 3,
        "layout": {
            "layout": "side",
            "showID": True,
            "showName": True,
            "expandedSubtechniques": "annotated",
        },
        "hideDisabled": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }


def coverage_layer(kb: KnowledgeBase, domain: Domain) -> dict[str, Any]:
    """The techniques of ``domain`` that the knowledge base's objects map to."""
    techniques = techniques_of(kb, domain)
    mapped: dict[str, list[str]] = defaultdict(list)
    for rel in kb.relationships:
        if rel.type == "related-to" and rel.target in techniques:
            obj = kb.get(rel.source)
            mapped[rel.target].append(f"{obj.name} ({obj.kind})")
    entries: dict[str, dict[str, Any]] = {}
    for tid, names in mapped.items():
        names = sorted(set(names))
        entries[tid] = {
            "techniqueID": tid,
            "score": len(names),
            "comment": f"{techniques[tid].name}: mapped by " + "; ".join(names),
            "metadata": [{"name": "mlstix object", "value": n} for n in names],
        }
    top = max((len(v) for v in mapped.values()), default=0)
    layer = base_layer(
        domain,
        f"mlstix knowledge base: {domain.title} coverage",
        f"Techniques of {domain.title} that the mlstix knowledge base on the security of ML "
        "models in the cloud maps to; score: how many attack patterns, vulnerabilities and "
        "courses of action map to the technique.",
    )
    layer["techniques"] = with_parents(entries)
    layer["gradient"] = {
        "colors": list(_COVERAGE_GRADIENT),
        "minValue": 0,
        "maxValue": max(top, 1),
    }
    layer["legendItems"] = [
        {"label": "mapped by the mlstix knowledge base", "color": _COVERAGE_GRADIENT[1]}
    ]
    layer["metadata"] = [
        {"name": "generated by", "value": f"mlstix {__version__}"},
        {"name": "techniques", "value": str(len(mapped))},
    ]
    return layer


def dumps(layer: dict[str, Any]) -> str:
    """The layer as JSON text, stable across runs."""
    return json.dumps(layer, indent=2, ensure_ascii=False) + "\n"
