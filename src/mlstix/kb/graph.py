"""The knowledge base as a checked graph: objects by key, and the relationships between them.

:class:`KnowledgeBase` is what every other part of mlstix reads: scanners look up a
vulnerability and its courses of action by key, the compiler walks objects and edges, the
renderers draw them. It is immutable once assembled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mlstix.errors import KbDataError
from mlstix.kb.detections import Detections
from mlstix.kb.model import AttackPattern, CourseOfAction, KbObject, MitreObject, Vulnerability

__all__ = ["KnowledgeBase", "Relationship"]

RelationshipType = Literal["targets", "mitigates", "related-to"]


@dataclass(frozen=True)
class Relationship:
    """One edge of the graph, in STIX 2.1 terms (§5.1)."""

    id: str
    type: RelationshipType
    source: str  # key of an authored object
    target: str  # key of an authored object, or a MITRE external id for related-to
    description: str


@dataclass(frozen=True)
class KnowledgeBase:
    attack_patterns: tuple[AttackPattern, ...]
    vulnerabilities: tuple[Vulnerability, ...]
    courses_of_action: tuple[CourseOfAction, ...]
    mitre: tuple[MitreObject, ...]
    relationships: tuple[Relationship, ...]
    detections: Detections = field(default_factory=Detections)
    _by_key: dict[str, KbObject] = field(repr=False, compare=False, default_factory=dict)
    _mitre_by_id: dict[str, MitreObject] = field(repr=False, compare=False, default_factory=dict)

    # -- lookups -------------------------------------------------------------------------------

    @property
    def objects(self) -> tuple[KbObject, ...]:
        """Every authored object: attack patterns, vulnerabilities, courses of action."""
        return (*self.attack_patterns, *self.vulnerabilities, *self.courses_of_action)

    def get(self, key: str) -> KbObject:
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"no knowledge-base object with key {key!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def vulnerability(self, key: str) -> Vulnerability:
        obj = self.get(key)
        if not isinstance(obj, Vulnerability):
            raise KeyError(f"{key!r} is a {obj.kind}, not a vulnerability")
        return obj

    def course_of_action(self, key: str) -> CourseOfAction:
        obj = self.get(key)
        if not isinstance(obj, CourseOfAction):
            raise KeyError(f"{key!r} is a {obj.kind}, not a course of action")
        return obj

    def mitre_object(self, external_id: str) -> MitreObject:
        return self._mitre_by_id[external_id]

    def edges_from(self, key: str) -> tuple[Relationship, ...]:
        return tuple(r for r in self.relationships if r.source == key)

    def edges_to(self, key: str) -> tuple[Relationship, ...]:
        return tuple(r for r in self.relationships if r.target == key)

    def mitigations_of(self, key: str) -> tuple[CourseOfAction, ...]:
        """Courses of action that mitigate the attack pattern or vulnerability ``key``."""
        return tuple(
            self.course_of_action(r.source)
            for r in self.relationships
            if r.type == "mitigates" and r.target == key
        )

    def attack_patterns_targeting(self, key: str) -> tuple[AttackPattern, ...]:
        out = []
        for r in self.relationships:
            if r.type == "targets" and r.target == key:
                obj = self.get(r.source)
                assert isinstance(obj, AttackPattern)
                out.append(obj)
        return tuple(out)

    # -- assembly ------------------------------------------------------------------------------

    @classmethod
    def assemble(
        cls,
        *,
        attack_patterns: Sequence[tuple[str, AttackPattern]],
        vulnerabilities: Sequence[tuple[str, Vulnerability]],
        courses_of_action: Sequence[tuple[str, CourseOfAction]],
        mitre: Sequence[tuple[str, MitreObject]],
    ) -> KnowledgeBase:
        """Check the cross-file rules and build the graph; raise :class:`KbDataError` on holes."""
        problems: list[str] = []
        by_key: dict[str, KbObject] = {}
        where: dict[str, str] = {}
        ids: dict[str, str] = {}

        def claim_id(stix_id: str, rel: str, fieldname: str) -> None:
            if stix_id in ids:
                problems.append(
                    f"{rel}: field {fieldname}: id {stix_id} also used in {ids[stix_id]}"
                )
            else:
                ids[stix_id] = f"{rel} ({fieldname})"

        authored: list[tuple[str, KbObject]] = [
            *attack_patterns,
            *vulnerabilities,
            *courses_of_action,
        ]
        for rel, obj in authored:
            if obj.key in by_key:
                problems.append(
                    f"{rel}: field key: duplicate key {obj.key!r} (also {where[obj.key]})"
                )
                continue
            by_key[obj.key] = obj
            where[obj.key] = rel
            claim_id(obj.id, rel, "id")
            if isinstance(obj, CourseOfAction):
                for cloud, note_id in sorted(obj.note_ids.items()):
                    claim_id(note_id, rel, f"note_ids.{cloud.value}")

        mitre_by_id: dict[str, MitreObject] = {}
        for rel, m in mitre:
            if rel.rsplit("/", 1)[-1] != f"{m.external_id}.yaml":
                problems.append(f"{rel}: file name must be {m.external_id}.yaml")
            if m.external_id in mitre_by_id:
                problems.append(f"{rel}: field external_id: duplicate {m.external_id}")
                continue
            mitre_by_id[m.external_id] = m
            claim_id(m.id, rel, "id")

        relationships: list[Relationship] = []
        for rel, obj in authored:
            edges: Iterable[tuple[str, RelationshipType, int, str, str]] = ()
            if isinstance(obj, AttackPattern):
                edges = (
                    (e.id, "targets", i, e.target, e.description) for i, e in enumerate(obj.targets)
                )
            elif isinstance(obj, CourseOfAction):
                edges = (
                    (e.id, "mitigates", i, e.target, e.description)
                    for i, e in enumerate(obj.mitigates)
                )
            fieldname = "targets" if isinstance(obj, AttackPattern) else "mitigates"
            seen_targets: set[str] = set()
            for rid, rtype, index, target, text in edges:
                loc = f"{fieldname}[{index}].target"
                claim_id(rid, rel, f"{fieldname}[{index}].id")
                target_obj = by_key.get(target)
                if target_obj is None:
                    problems.append(f"{rel}: field {loc}: unknown key {target!r}")
                    continue
                allowed = (
                    ("vulnerability",)
                    if rtype == "targets"
                    else ("attack-pattern", "vulnerability")
                )
                if target_obj.kind not in allowed:
                    problems.append(
                        f"{rel}: field {loc}: {target!r} is a {target_obj.kind}; "
                        f"{rtype} must point at {' or '.join(allowed)}"
                    )
                    continue
                if target in seen_targets:
                    problems.append(f"{rel}: field {loc}: duplicate edge to {target!r}")
                    continue
                seen_targets.add(target)
                relationships.append(Relationship(rid, rtype, obj.key, target, text))
            for index, mapping in enumerate(obj.references.mitre):
                loc = f"references.mitre[{index}]"
                claim_id(mapping.relationship_id, rel, f"{loc}.relationship_id")
                if mapping.external_id not in mitre_by_id:
                    problems.append(
                        f"{rel}: field {loc}.external_id: "
                        f"{mapping.external_id} has no file in mitre/"
                    )
                    continue
                relationships.append(
                    Relationship(
                        mapping.relationship_id,
                        "related-to",
                        obj.key,
                        mapping.external_id,
                        mapping.description,
                    )
                )

        kb = cls(
            attack_patterns=tuple(o for _, o in attack_patterns if by_key.get(o.key) is o),
            vulnerabilities=tuple(o for _, o in vulnerabilities if by_key.get(o.key) is o),
            courses_of_action=tuple(o for _, o in courses_of_action if by_key.get(o.key) is o),
            mitre=tuple(sorted(mitre_by_id.values(), key=lambda m: m.external_id)),
            relationships=tuple(relationships),
            _by_key=by_key,
            _mitre_by_id=mitre_by_id,
        )
        if not problems:
            problems.extend(_coverage_problems(kb, where))
        if problems:
            raise KbDataError(problems)
        return kb


def _coverage_problems(kb: KnowledgeBase, where: dict[str, str]) -> list[str]:
    """The graph must have no holes (see the knowledge-base issue)."""
    problems = []
    targeted = {r.target for r in kb.relationships if r.type == "targets"}
    mitigated = {r.target for r in kb.relationships if r.type == "mitigates"}
    for v in kb.vulnerabilities:
        if v.key not in targeted:
            problems.append(f"{where[v.key]}: no attack pattern targets this vulnerability")
        if v.key not in mitigated:
            problems.append(f"{where[v.key]}: no course of action mitigates this vulnerability")
    for ap in kb.attack_patterns:
        if ap.key not in mitigated:
            problems.append(f"{where[ap.key]}: no course of action mitigates this attack pattern")
    for coa in kb.courses_of_action:
        if not any(kb.get(e.target).kind == "vulnerability" for e in coa.mitigates):
            problems.append(f"{where[coa.key]}: field mitigates: mitigates no vulnerability")
    return problems
