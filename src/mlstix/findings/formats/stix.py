"""STIX 2.1 output (OASIS STIX 2.1 CS03): a bundle with a ``report`` of ``sighting``s.

Each finding becomes a ``sighting`` (§5.2) of the knowledge-base ``vulnerability`` (§4.18) it
is an instance of: ``sighting_of_ref`` is the KB vulnerability's STIX id, ``observed_data_refs``
points at an ``observed-data`` (§4.14) carrying the scanned file as a ``file`` SCO (§6.7) with
its SHA-256, and ``where_sighted_refs`` at an ``identity`` (§4.7, class ``system``) standing for
the scanned system. A ``report`` (§4.16) refers to all of them. The bundle carries every object
those refer to (the KB vulnerabilities, the mlstix identity, the TLP 2.0 CLEAR marking that marks
the KB objects), so it validates on its own under ``stix2-validator --strict --enforce-refs``.

The scan's own objects are not marked: the user decides how to share results about their
systems. Their ids are random UUIDv4 (a scan is an event); ``file`` SCO ids are the
deterministic UUIDv5 of §2.9 so the same file is the same SCO across scans.
"""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import stix2

from mlstix import __version__
from mlstix.findings.model import Finding, Report, ScannedFile
from mlstix.kb.compile import IDENTITY_ID, compile_kb
from mlstix.kb.graph import KnowledgeBase

__all__ = ["render"]


def _file_sco(scanned: ScannedFile) -> Any:
    props: dict[str, Any] = {"name": PurePosixPath(scanned.path.replace("\\", "/")).name}
    if scanned.sha256:
        props["hashes"] = {"SHA-256": scanned.sha256}
    return stix2.File(**props)


def _system_identity(now: datetime, scanned: tuple[ScannedFile, ...]) -> Any:
    host = socket.gethostname() or "localhost"
    roots = sorted({s.path.replace("\\", "/").split("/", 1)[0] for s in scanned})
    where = ", ".join(roots[:5]) + (", …" if len(roots) > 5 else "")
    return stix2.Identity(
        created=now,
        modified=now,
        created_by_ref=IDENTITY_ID,
        name=f"{host}: {where}" if where else host,
        identity_class="system",
        description="The system whose model files and configuration mlstix scanned.",
    )


def _sighting_description(f: Finding) -> str:
    return (
        f"[{f.severity.value}] {f.rule_id} at {f.location}: {f.message}\n"
        f"Courses of action: {', '.join(f.courses_of_action)}"
    )


def _attack_pattern_id(kb: KnowledgeBase, finding: Finding) -> str | None:
    key = finding.evidence.get("attack_pattern")
    if not isinstance(key, str):
        return None
    for pattern in kb.attack_patterns:
        if pattern.key == key:
            return pattern.id
    return None


def render(report: Report, kb: KnowledgeBase) -> str:
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    compiled = compile_kb(kb)
    vulns = {v.id: v for v in compiled.vulnerabilities}
    # a finding of a Sigma rule (mlstix detect) is a sighting of the rule's indicator
    indicators = {i.id: i for i in compiled.indicators}
    used_indicators: set[str] = set()
    # a finding of an inference detector (mlstix detect inference) is a sighting of the
    # attack pattern it saw being carried out
    patterns = {p.id: p for p in compiled.attack_patterns}
    used_patterns: set[str] = set()
    system = _system_identity(now, report.scanned)

    files: dict[str, Any] = {}
    observed: dict[str, Any] = {}
    for scanned in report.scanned:
        sco = _file_sco(scanned)
        files[scanned.path] = sco
        observed[scanned.path] = stix2.ObservedData(
            created=now,
            modified=now,
            created_by_ref=IDENTITY_ID,
            first_observed=now,
            last_observed=now,
            number_observed=1,
            object_refs=[sco.id],
        )

    sightings = []
    used_vulns: set[str] = set()
    for f in report.findings:
        vuln_id = kb.vulnerability(f.vulnerability).id
        used_vulns.add(vuln_id)
        sighted = f"indicator--{f.evidence.get('sigma_id')}"
        pattern = _attack_pattern_id(kb, f)
        if sighted in indicators:
            used_indicators.add(sighted)
        elif pattern is not None and pattern in patterns:
            sighted = pattern
            used_patterns.add(pattern)
        else:
            sighted = vuln_id
        props: dict[str, Any] = {}
        obs = observed.get(f.location.path)
        if obs is not None:
            props["observed_data_refs"] = [obs.id]
        sightings.append(
            stix2.Sighting(
                created=now,
                modified=now,
                created_by_ref=IDENTITY_ID,
                first_seen=now,
                last_seen=now,
                count=1,
                sighting_of_ref=sighted,
                where_sighted_refs=[system.id],
                description=_sighting_description(f),
                **props,
            )
        )

    scan_objects: list[Any] = [system, *files.values(), *observed.values(), *sightings]
    counts = f"{len(report.findings)} findings in {len(report.scanned)} files"
    errors = "".join(f"\n- could not scan {e.path}: {e.message}" for e in report.errors)
    stix_report = stix2.Report(
        created=now,
        modified=now,
        created_by_ref=IDENTITY_ID,
        name=f"mlstix scan {report.scanner}: {counts}",
        description=f"mlstix {__version__} scan {report.scanner}: {counts}.{errors}",
        published=now,
        report_types=["vulnerability", "observed-data"],
        object_refs=[o.id for o in scan_objects if o.type != "file"]
        + sorted(used_vulns | used_indicators | used_patterns),
    )
    objects = [
        *compiled.common,
        *(vulns[v] for v in sorted(used_vulns)),
        *(indicators[i] for i in sorted(used_indicators)),
        *(patterns[i] for i in sorted(used_patterns)),
        stix_report,
        *scan_objects,
    ]
    bundle = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": [json.loads(o.serialize()) for o in objects],
    }
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
