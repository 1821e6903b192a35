"""The detection rules of the knowledge base as STIX 2.1 objects.

Each Sigma rule becomes an ``indicator`` (STIX 2.1 §4.7) with ``pattern_type: sigma`` (a value
of the pattern-type open vocabulary, §10.14) and the rule's YAML as ``pattern``, so a TIP or
SIEM that imports the bundle has the rule itself, not a description of it. The indicator's id
is ``indicator--<Sigma rule id>`` (Sigma ids are UUIDv4, so the STIX id is a valid UUIDv4 id and
a finding of the rule names its indicator without a lookup table). An authored ``indicates``
relationship (§4.7, "Relationships") ties it to its attack pattern.

An attack pattern without a rule gets a ``note`` (§4.11) that says why its traces never reach an
audit log; the note refers to the attack pattern.

``created``/``modified`` come from the rule's ``date``/``modified``, ``valid_from`` is its
``date``: two builds of the same source are byte-identical.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import stix2

from mlstix.kb._oasis import TLP_CLEAR_ID
from mlstix.kb.detections import NoRuleNote, RuleMeta
from mlstix.kb.graph import KnowledgeBase

__all__ = ["indicator_objects"]

# Sigma level -> STIX indicator_types (open vocabulary §10.12): a match at "high" or above is
# taken as malicious, below as anomalous.
_TYPES = {
    "critical": "malicious-activity",
    "high": "malicious-activity",
    "medium": "anomalous-activity",
    "low": "anomalous-activity",
    "informational": "anomalous-activity",
}


def _ts(value: datetime) -> str:
    text: str = stix2.utils.format_datetime(
        stix2.utils.STIXdatetime(value, precision="millisecond")
    )
    return text


def _indicator(rule: RuleMeta, identity: str) -> Any:
    return stix2.Indicator(
        id=rule.indicator_id,
        created=_ts(rule.created),
        modified=_ts(rule.modified),
        created_by_ref=identity,
        object_marking_refs=[TLP_CLEAR_ID],
        name=rule.title,
        description=(
            f"{rule.description}\n\nLog source: {rule.product} {rule.service}. Level: "
            f"{rule.level}.\n\nFalse positives:\n"
            + "\n".join(f"- {fp}" for fp in rule.falsepositives)
        ),
        indicator_types=[_TYPES[rule.level]],
        pattern=rule.text,
        pattern_type="sigma",
        valid_from=_ts(rule.created),
        labels=[f"sigma-{rule.level}", f"logsource-{rule.product}-{rule.service}"],
        external_references=[{"source_name": "mlstix", "external_id": rule.name}],
    )


def _indicates(kb: KnowledgeBase, rule: RuleMeta, identity: str) -> Any:
    ap = kb.get(rule.attack_pattern)
    return stix2.Relationship(
        id=rule.indicates_id,
        created=_ts(rule.created),
        modified=_ts(rule.modified),
        created_by_ref=identity,
        object_marking_refs=[TLP_CLEAR_ID],
        relationship_type="indicates",
        source_ref=rule.indicator_id,
        target_ref=ap.id,
        description=(
            f"The Sigma rule '{rule.title}' matches {rule.product} {rule.service} events left by "
            f"{ap.name}."
        ),
    )


def _no_rule_note(kb: KnowledgeBase, entry: NoRuleNote, identity: str) -> Any:
    ap = kb.get(entry.attack_pattern)
    return stix2.Note(
        id=entry.note_id,
        created=_ts(entry.created),
        modified=_ts(entry.modified),
        created_by_ref=identity,
        object_marking_refs=[TLP_CLEAR_ID],
        abstract=f"{ap.name}: no audit-log detection rule",
        content=" ".join(entry.reason.split()),
        authors=["mlstix"],
        labels=["detection-coverage"],
        object_refs=[ap.id],
    )


def indicator_objects(
    kb: KnowledgeBase, identity: str
) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    """(indicators, indicates relationships, no-rule notes), each in a stable order."""
    rules = sorted(kb.detections.rules, key=lambda r: r.indicator_id)
    return (
        tuple(_indicator(r, identity) for r in rules),
        tuple(_indicates(kb, r, identity) for r in sorted(rules, key=lambda r: r.indicates_id)),
        tuple(_no_rule_note(kb, n, identity) for n in kb.detections.no_rule),
    )
