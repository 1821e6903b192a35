"""Compile the knowledge base into STIX 2.1 objects and bundles (OASIS STIX 2.1 CS03).

Every object is built with the ``stix2`` library, carries ``created_by_ref`` (the mlstix
identity, §4.9) and ``object_marking_refs`` (TLP 2.0 CLEAR, §7.2.1.4 with the OASIS TLP 2.0
extension), and takes ``created``/``modified`` from the authored YAML, so two builds of the same
source are byte-identical.

Design choices forced by consumers (see DESIGN.md, "Known traps"):

- Cloud guidance travels as a property extension (§7.3) on each course of action, defined by the
  ``extension-definition`` below; because OpenCTI and misp-stix drop extension data, each cloud's
  guidance is also published as a ``note`` (§4.11) referring to its course of action, and the
  platform recommendation is also a section of the course of action's description.
- Links to MITRE ATLAS / ATT&CK are ``related-to`` relationships to the canonical MITRE STIX ids,
  in a separate mappings bundle carrying minimal MITRE objects: an external reference with a
  ``mitre-*`` source name would make OpenCTI merge our attack pattern into MITRE's.
- Each bundle file stands alone under ``stix2-validator --enforce-refs``: it carries every object
  its objects refer to (identity, marking, extension definitions, relationship ends).
- Detection rules (Sigma) are ``indicator`` objects with ``pattern_type: sigma`` that ``indicate``
  their attack patterns (:mod:`mlstix.kb._indicators`), in ``indicators.json`` and ``bundle.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import stix2

from mlstix.kb._common import (
    CLOUD_GUIDANCE_EXTENSION_ID,
    IDENTITY_ID,
    PROJECT_EPOCH,
    PROJECT_URL,
    REPORT_ID,
    SCHEMA_URL,
    extension_definition,
    identity,
)
from mlstix.kb._indicators import indicator_objects
from mlstix.kb._oasis import TLP2_OBJECTS, TLP_CLEAR_ID
from mlstix.kb.graph import KnowledgeBase, Relationship
from mlstix.kb.model import (
    ATTACK_PATTERN_CATEGORIES,
    COURSE_OF_ACTION_CATEGORIES,
    VULNERABILITY_CATEGORIES,
    AttackPattern,
    Cloud,
    CloudGuidance,
    CourseOfAction,
    KbObject,
    MitreObject,
    Vulnerability,
)

_K = TypeVar("_K", AttackPattern, Vulnerability, CourseOfAction)

__all__ = [
    "BUNDLE_FILES",
    "CLOUD_GUIDANCE_EXTENSION_ID",
    "IDENTITY_ID",
    "PROJECT_URL",
    "SCHEMA_URL",
    "TLP_CLEAR_ID",
    "CompiledKb",
    "compile_kb",
    "note_content",
    "serialize_bundle",
    "stix_description",
]


# One fixed bundle id per published file: bundles are regenerated, their ids never change.
BUNDLE_FILES: dict[str, str] = {
    "attack-patterns.json": "bundle--5413e9e5-16c3-4b6c-8dc4-5719e2937aa4",
    "vulnerabilities.json": "bundle--fe8e57ec-3dff-418e-8bcf-720ceeba697a",
    "courses-of-action.json": "bundle--32e433f5-f595-4da9-9806-9ab45411f205",
    "relationships.json": "bundle--11934a40-677e-4669-a57f-07170b47f3c0",
    "mappings.json": "bundle--c260c88d-ee05-47b5-9947-7a9e9a441d55",
    "bundle.json": "bundle--6dd10b4d-63fb-4e07-9196-0cd560b06b61",
    "indicators.json": "bundle--7003830b-61b3-4a97-bd86-2c82e5e8a9db",
}

_CATEGORIES: dict[str, dict[str, str]] = {
    "attack-pattern": ATTACK_PATTERN_CATEGORIES,
    "vulnerability": VULNERABILITY_CATEGORIES,
    "course-of-action": COURSE_OF_ACTION_CATEGORIES,
}


@dataclass(frozen=True)
class CompiledKb:
    """The STIX objects of the knowledge base, grouped the way the bundle files publish them."""

    common: tuple[Any, ...]  # identity, markings, extension definitions
    attack_patterns: tuple[Any, ...]
    vulnerabilities: tuple[Any, ...]
    courses_of_action: tuple[Any, ...]
    notes: tuple[Any, ...]
    report: Any  # the knowledge base as one STIX report, its container
    relationships: tuple[Any, ...]
    mitre: tuple[Any, ...]
    mappings: tuple[Any, ...]
    # Sigma rules as indicators, their ``indicates`` edges, notes on patterns without a rule
    indicators: tuple[Any, ...] = ()
    indicates: tuple[Any, ...] = ()
    detection_notes: tuple[Any, ...] = ()

    def bundles(self) -> dict[str, tuple[Any, ...]]:
        """File name → the objects of that bundle, each file standing alone."""
        sdos = (*self.attack_patterns, *self.vulnerabilities, *self.courses_of_action)
        detection = (*self.indicators, *self.indicates, *self.detection_notes)
        return {
            "attack-patterns.json": (*self.common, *self.attack_patterns),
            "vulnerabilities.json": (*self.common, *self.vulnerabilities),
            "courses-of-action.json": (*self.common, *self.courses_of_action, *self.notes),
            "relationships.json": (*self.common, *sdos, *self.relationships),
            "mappings.json": (*self.common, *sdos, *self.mitre, *self.mappings),
            "bundle.json": (
                *self.common,
                self.report,
                *sdos,
                *self.notes,
                *self.relationships,
                *detection,
            ),
            "indicators.json": (*self.common, *self.attack_patterns, *detection),
        }


def _ts(value: datetime) -> str:
    text: str = stix2.utils.format_datetime(
        stix2.utils.STIXdatetime(value, precision="millisecond")
    )
    return text


def _common(obj: KbObject) -> dict[str, Any]:
    return {
        "id": obj.id,
        "created": _ts(obj.created),
        "modified": _ts(obj.modified),
        "created_by_ref": IDENTITY_ID,
        "object_marking_refs": [TLP_CLEAR_ID],
    }


def _external_references(obj: KbObject) -> list[dict[str, str]]:
    """Identifier references only (mlstix key, CWE, OWASP ML Top 10).

    STIX 2.1 §2.5 says an external reference with a ``url`` SHOULD carry ``hashes`` of the
    content, and ``stix2-validator --strict`` enforces it (check 302). A hash of a living
    documentation page would be wrong within days, so documentation links travel as Markdown
    links in the description (and in the notes) instead of as ``url`` properties.
    """
    refs: list[dict[str, str]] = [{"source_name": "mlstix", "external_id": obj.key}]
    refs.extend({"source_name": "cwe", "external_id": cwe} for cwe in obj.references.cwe)
    refs.extend(
        {"source_name": "owasp-ml-top-10", "external_id": owasp}
        for owasp in obj.references.owasp_ml
    )
    return refs


def stix_description(obj: KbObject) -> str:
    """The STIX ``description``: the authored sections in one Markdown text."""
    parts = [obj.summary, obj.description, f"## Example\n\n{obj.example}"]
    heading = "Verification" if isinstance(obj, CourseOfAction) else "Detection"
    parts.append(f"## {heading}\n\n{obj.detection}")
    if isinstance(obj, CourseOfAction):
        rec = obj.platform_recommendation
        caps = "\n".join(f"- {c}" for c in rec.capabilities)
        parts.append(f"## Platform recommendation: {rec.title}\n\n{rec.description}\n\n{caps}")
        # The steps also travel here, in a standard property: misp-stix keeps neither the
        # extension nor notes attached to galaxy clusters.
        for cloud in Cloud:
            g = obj.cloud[cloud]
            steps = "\n".join(f"{i}. {step}" for i, step in enumerate(g.steps, 1))
            parts.append(
                f"## Implementation on {cloud.title}\n\nServices: {', '.join(g.services)}.\n\n"
                f"{steps}"
            )
        parts.append(
            "A worked example and documentation links for each cloud are published as one "
            "note per cloud referring to this course of action."
        )
    if obj.references.links:
        links = "\n".join(f"- [{link.title}]({link.url})" for link in obj.references.links)
        parts.append(f"## References\n\n{links}")
    return "\n\n".join(p.strip() for p in parts) + "\n"


def _labels(obj: KbObject) -> list[str]:
    return [obj.category]


def _attack_pattern(ap: AttackPattern) -> Any:
    return stix2.AttackPattern(
        **_common(ap),
        name=ap.name,
        description=stix_description(ap),
        aliases=list(ap.aliases) or None,
        kill_chain_phases=[{"kill_chain_name": "mlstix", "phase_name": ap.category}],
        labels=_labels(ap),
        external_references=_external_references(ap),
    )


def _vulnerability(v: Vulnerability) -> Any:
    return stix2.Vulnerability(
        **_common(v),
        name=v.name,
        description=stix_description(v),
        labels=_labels(v),
        external_references=_external_references(v),
    )


def _guidance_json(g: CloudGuidance) -> dict[str, Any]:
    return {
        "services": list(g.services),
        "steps": list(g.steps),
        "example": {
            "language": g.example.language,
            "title": g.example.title,
            "code": g.example.code,
        },
        "references": [{"title": r.title, "url": r.url} for r in g.references],
    }


def _course_of_action(coa: CourseOfAction) -> Any:
    rec = coa.platform_recommendation
    return stix2.CourseOfAction(
        **_common(coa),
        name=coa.name,
        description=stix_description(coa),
        labels=_labels(coa),
        external_references=_external_references(coa),
        extensions={
            CLOUD_GUIDANCE_EXTENSION_ID: {
                "extension_type": "property-extension",
                "category": coa.category,
                "cloud_guidance": {c.value: _guidance_json(coa.cloud[c]) for c in Cloud},
                "platform_recommendation": {
                    "title": rec.title,
                    "description": rec.description,
                    "capabilities": list(rec.capabilities),
                },
            }
        },
    )


def note_content(coa: CourseOfAction, cloud: Cloud) -> str:
    """Markdown of one cloud's guidance: the body of its STIX note and of the reference page."""
    g = coa.cloud[cloud]
    services = "\n".join(f"- {s}" for s in g.services)
    steps = "\n".join(f"{i}. {s}" for i, s in enumerate(g.steps, 1))
    refs = "\n".join(f"- [{r.title}]({r.url})" for r in g.references)
    return (
        f"### Services\n\n{services}\n\n### Steps\n\n{steps}\n\n"
        f"### Example: {g.example.title}\n\n"
        f"```{g.example.language}\n{g.example.code.rstrip()}\n```\n\n"
        f"### References\n\n{refs}\n"
    )


def _notes(coa: CourseOfAction) -> list[Any]:
    out = []
    for cloud in Cloud:
        out.append(
            stix2.Note(
                id=coa.note_ids[cloud],
                created=_ts(coa.created),
                modified=_ts(coa.modified),
                created_by_ref=IDENTITY_ID,
                object_marking_refs=[TLP_CLEAR_ID],
                abstract=f"{coa.name}: implementation on {cloud.title}",
                content=note_content(coa, cloud),
                authors=["mlstix"],
                labels=[f"cloud-guidance-{cloud.value}"],
                object_refs=[coa.id],
            )
        )
    return out


def _relationship(kb: KnowledgeBase, rel: Relationship) -> Any:
    source = kb.get(rel.source)
    target_id = (
        kb.mitre_object(rel.target).id if rel.type == "related-to" else kb.get(rel.target).id
    )
    return stix2.Relationship(
        id=rel.id,
        created=_ts(source.created),
        modified=_ts(source.modified),
        created_by_ref=IDENTITY_ID,
        object_marking_refs=[TLP_CLEAR_ID],
        relationship_type=rel.type,
        source_ref=source.id,
        target_ref=target_id,
        description=rel.description,
    )


def _mitre_stub(m: MitreObject) -> Any:
    cls = stix2.AttackPattern if m.id.startswith("attack-pattern--") else stix2.CourseOfAction
    return cls(
        id=m.id,
        created=_ts(m.created),
        modified=_ts(m.modified),
        name=m.name,
        external_references=[{"source_name": m.source, "external_id": m.external_id}],
    )


def _report(kb: KnowledgeBase, contents: Sequence[Any]) -> Any:
    """The knowledge base as a STIX ``report`` (§4.14): one container that OpenCTI shows as a
    report and MISP imports as one event (misp-stix needs a report to attach notes)."""
    stamps = [o.modified for o in kb.objects] + [r.modified for r in kb.detections.rules]
    latest = _ts(max(stamps + [n.modified for n in kb.detections.no_rule]))
    return stix2.Report(
        id=REPORT_ID,
        created=PROJECT_EPOCH,
        modified=latest,
        published=latest,
        created_by_ref=IDENTITY_ID,
        object_marking_refs=[TLP_CLEAR_ID],
        name="ML Cloud Security Knowledge Base",
        description=(
            "Attack patterns, vulnerabilities and courses of action for machine-learning models "
            "in cloud environments (AWS, Azure, Google Cloud), the relationships between them, "
            "and implementation guidance per cloud. Published by mlstix."
        ),
        report_types=["threat-report", "attack-pattern", "vulnerability"],
        object_refs=[o.id for o in contents],
    )


def compile_kb(kb: KnowledgeBase) -> CompiledKb:
    common = (
        identity(),
        *(stix2.parse(o) for o in TLP2_OBJECTS),
        extension_definition(),
    )
    related = [r for r in kb.relationships if r.type == "related-to"]
    graph = [r for r in kb.relationships if r.type != "related-to"]
    attack_patterns = tuple(_attack_pattern(a) for a in _by_key(kb.attack_patterns))
    vulnerabilities = tuple(_vulnerability(v) for v in _by_key(kb.vulnerabilities))
    courses_of_action = tuple(_course_of_action(c) for c in _by_key(kb.courses_of_action))
    notes = tuple(n for c in _by_key(kb.courses_of_action) for n in _notes(c))
    relationships = tuple(_relationship(kb, r) for r in _sorted_edges(graph))
    indicators, indicates, detection_notes = indicator_objects(kb, IDENTITY_ID)
    contents = (*attack_patterns, *vulnerabilities, *courses_of_action, *notes, *relationships)
    contents = (*contents, *indicators, *indicates, *detection_notes)
    return CompiledKb(
        common=common,
        attack_patterns=attack_patterns,
        vulnerabilities=vulnerabilities,
        courses_of_action=courses_of_action,
        notes=notes,
        report=_report(kb, contents),
        relationships=relationships,
        mitre=tuple(
            _mitre_stub(m) for m in kb.mitre if any(r.target == m.external_id for r in related)
        ),
        mappings=tuple(_relationship(kb, r) for r in _sorted_edges(related)),
        indicators=indicators,
        indicates=indicates,
        detection_notes=detection_notes,
    )


def _by_key(objects: Iterable[_K]) -> list[_K]:
    return sorted(objects, key=lambda o: o.key)


def _sorted_edges(edges: Sequence[Relationship]) -> list[Relationship]:
    return sorted(edges, key=lambda r: (r.type, r.source, r.target))


def serialize_bundle(bundle_id: str, objects: Sequence[Any]) -> str:
    """A deterministic, pretty-printed STIX bundle with a trailing newline."""
    bundle: Mapping[str, Any] = {
        "type": "bundle",
        "id": bundle_id,
        "objects": [json.loads(o.serialize()) for o in objects],
    }
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
