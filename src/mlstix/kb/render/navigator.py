"""ATT&CK / ATLAS Navigator layers: what the knowledge base covers, and what a scan exposes.

Layer file format 4.5 of the MITRE ATT&CK Navigator
(https://github.com/mitre-attack/attack-navigator/blob/master/layers/LAYERFORMATv4_5.md). The
ATLAS Navigator is a fork that reads the same format with the domain ``atlas-atlas`` (the domain
of the layers MITRE publishes in mitre-atlas/atlas-navigator-data); the ATT&CK Navigator uses
``enterprise-attack``.

- :func:`coverage_layer`: every technique a knowledge-base object maps to (its ``related-to``
  MITRE mappings), scored by how many objects map to it.
- :func:`findings_layer`: the techniques a scan's findings expose. A finding is an instance of a
  KB vulnerability; the techniques are the vulnerability's own MITRE mappings plus those of every
  attack pattern that targets it. A technique's score is the highest severity among the findings
  that reach it, on the CVSS-like scale of ``Severity.security_severity`` (critical 9.5 … info 0).

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
from mlstix.errors import UsageError
from mlstix.findings.model import Finding, Severity
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import MitreObject

__all__ = [
    "DOMAINS",
    "Domain",
    "coverage_layer",
    "dumps",
    "findings_layer",
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

_SEVERITY_GRADIENT = ("#ffffff", "#ffe766", "#ff6666")
_COVERAGE_GRADIENT = ("#e8f1fb", "#2b6cb0")
_MAX_ITEMS = 25  # findings listed per technique in metadata before "and N more"


def _techniques(kb: KnowledgeBase, domain: Domain) -> dict[str, MitreObject]:
    return {
        m.external_id: m
        for m in kb.mitre
        if m.source == domain.source and m.id.startswith("attack-pattern--")
    }


def _interpolate(colors: Sequence[str], t: float) -> str:
    """The gradient colour at ``t`` in [0, 1], as the Navigator computes it."""
    t = min(max(t, 0.0), 1.0) * (len(colors) - 1)
    i = min(int(t), len(colors) - 2)
    a, b = colors[i], colors[i + 1]
    mix = [
        round(int(a[k : k + 2], 16) + (int(b[k : k + 2], 16) - int(a[k : k + 2], 16)) * (t - i))
        for k in (1, 3, 5)
    ]
    return "#" + "".join(f"{c:02x}" for c in mix)


def _with_parents(entries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries sorted by id, each sub-technique's parent present with ``showSubtechniques``."""
    for tid in list(entries):
        if "." in tid.removeprefix("AML."):
            parent = tid.rsplit(".", 1)[0]
            entries.setdefault(parent, {"techniqueID": parent})["showSubtechniques"] = True
    return [entries[k] for k in sorted(entries)]


def _base(domain: Domain, name: str, description: str) -> dict[str, Any]:
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
    techniques = _techniques(kb, domain)
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
    layer = _base(
        domain,
        f"mlstix knowledge base: {domain.title} coverage",
        f"Techniques of {domain.title} that the mlstix knowledge base on the security of ML "
        "models in the cloud maps to; score: how many attack patterns, vulnerabilities and "
        "courses of action map to the technique.",
    )
    layer["techniques"] = _with_parents(entries)
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


def _reaching(
    kb: KnowledgeBase, vulnerability: str, techniques: dict[str, MitreObject]
) -> dict[str, set[str]]:
    """Technique id → the KB objects through which ``vulnerability`` reaches it."""
    out: dict[str, set[str]] = defaultdict(set)
    vuln = kb.vulnerability(vulnerability)
    sources = [vuln, *kb.attack_patterns_targeting(vulnerability)]
    for obj in sources:
        for m in obj.references.mitre:
            if m.external_id in techniques:
                out[m.external_id].add(obj.name)
    return out


def findings_layer(
    kb: KnowledgeBase, findings: Sequence[Finding], domain: Domain, *, source: str = ""
) -> dict[str, Any]:
    """The techniques of ``domain`` that ``findings`` expose, scored by their worst severity.

    Raises :class:`UsageError` when a finding names a vulnerability the knowledge base lacks.
    """
    techniques = _techniques(kb, domain)
    hits: dict[str, list[Finding]] = defaultdict(list)
    via: dict[str, set[str]] = defaultdict(set)
    for index, finding in enumerate(findings):
        if finding.vulnerability not in kb or kb.get(finding.vulnerability).kind != "vulnerability":
            raise UsageError(
                f"finding {index} ({finding.rule_id}) names {finding.vulnerability!r}, "
                "which is not a vulnerability of this knowledge base",
                hint="was the report made by another mlstix version? `mlstix kb list` shows keys",
            )
        for tid, names in _reaching(kb, finding.vulnerability, techniques).items():
            hits[tid].append(finding)
            via[tid] |= names
    entries: dict[str, dict[str, Any]] = {}
    for tid, found in hits.items():
        worst = max(f.severity for f in found)
        counts = {s: sum(1 for f in found if f.severity is s) for s in Severity}
        tally = ", ".join(f"{n} {s.value}" for s, n in sorted(counts.items(), reverse=True) if n)
        ordered = sorted(found, key=Finding.sort_key)
        metadata: list[dict[str, Any]] = [
            {"name": f.severity.value, "value": f"{f.rule_id} at {f.location}"}
            for f in ordered[:_MAX_ITEMS]
        ]
        if len(ordered) > _MAX_ITEMS:
            metadata.append({"name": "more", "value": f"{len(ordered) - _MAX_ITEMS} findings"})
        entries[tid] = {
            "techniqueID": tid,
            "score": float(worst.security_severity),
            "comment": (
                f"{techniques[tid].name}: {len(found)} finding{'s' * (len(found) != 1)} "
                f"({tally}), through {'; '.join(sorted(via[tid]))}"
            ),
            "metadata": metadata,
        }
    name = "mlstix scan findings" + (f": {source}" if source else "")
    layer = _base(
        domain,
        name,
        f"Techniques of {domain.title} exposed by the findings of an mlstix scan: finding → "
        "knowledge-base vulnerability → the attack patterns that target it → their MITRE "
        "mappings. Score: the worst severity reaching the technique (critical 9.5, high 8, "
        "medium 5.5, low 3, info 0).",
    )
    layer["techniques"] = _with_parents(entries)
    layer["gradient"] = {"colors": list(_SEVERITY_GRADIENT), "minValue": 0, "maxValue": 10}
    layer["legendItems"] = [
        {
            "label": s.value,
            "color": _interpolate(_SEVERITY_GRADIENT, float(s.security_severity) / 10),
        }
        for s in sorted(Severity, reverse=True)
    ]
    layer["metadata"] = [
        {"name": "generated by", "value": f"mlstix {__version__}"},
        {"name": "findings", "value": str(len(findings))},
        {"name": "techniques", "value": str(len(hits))},
    ]
    if source:
        layer["metadata"].append({"name": "report", "value": source})
    return layer


def dumps(layer: dict[str, Any]) -> str:
    """The layer as JSON text, stable across runs."""
    return json.dumps(layer, indent=2, ensure_ascii=False) + "\n"
