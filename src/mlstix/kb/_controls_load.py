"""Read ``kb/data/benchmark/`` into a checked :class:`~mlstix.kb.controls.Benchmark`.

All-or-nothing like ``load.py``: every problem of every file is collected into one
:class:`~mlstix.errors.KbDataError` whose lines name the file and the field. Beyond the schema:

- ``benchmark.yaml`` exists; each other file is named after the course of action it holds;
- every course of action of the knowledge base has a file, and sections are unique;
- control ids are ``MLCS-<section>.<n>``, numbered 1, 2, 3... in file order, unique overall;
- ``closes`` names vulnerabilities, ``also_implements`` courses of action, ``atlas`` catalogued
  ATLAS mitigations, and each remediation step exists in the course of action's cloud guidance;
- a control without rules has a manual procedure for every platform it applies to, and a
  remediation for each cloud it applies to.
"""

from __future__ import annotations

from pathlib import Path

from mlstix.errors import KbDataError
from mlstix.kb.controls import Benchmark, BenchmarkInfo, Control, ControlFile, Platform, Section
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.load import _parse
from mlstix.kb.model import Cloud

__all__ = ["read_benchmark"]

_INFO = "benchmark.yaml"


def read_benchmark(folder: Path, kb: KnowledgeBase) -> Benchmark:
    problems: list[str] = []
    if not folder.is_dir():
        raise KbDataError([f"{folder}: benchmark folder not found"])
    info = None
    if (folder / _INFO).is_file():
        info = _parse(folder / _INFO, BenchmarkInfo, f"benchmark/{_INFO}", problems)
    else:
        problems.append(f"benchmark/{_INFO}: missing (the benchmark's id, title and version)")
    files: list[tuple[str, ControlFile]] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == _INFO:
            continue
        rel = f"benchmark/{path.name}"
        parsed = _parse(path, ControlFile, rel, problems)
        if parsed is None:
            continue
        if path.stem != parsed.course_of_action:
            problems.append(f"{rel}: file name must be {parsed.course_of_action}.yaml")
        files.append((rel, parsed))
    sections: dict[int, str] = {}
    seen_ids: dict[str, str] = {}
    covered: set[str] = set()
    for rel, cf in files:
        if cf.section in sections:
            problems.append(f"{rel}: field section: {cf.section} is also {sections[cf.section]}")
        sections[cf.section] = rel
        try:
            kb.course_of_action(cf.course_of_action)
            covered.add(cf.course_of_action)
        except KeyError:
            problems.append(
                f"{rel}: field course_of_action: no course of action {cf.course_of_action!r}"
            )
            continue
        for index, control in enumerate(cf.controls):
            where = f"{rel}: controls[{index}] ({control.id})"
            expected = f"MLCS-{cf.section}.{index + 1}"
            if control.id != expected:
                problems.append(f"{where}: field id: expected {expected} (numbered in file order)")
            if control.id in seen_ids:
                problems.append(f"{where}: field id: duplicate of {seen_ids[control.id]}")
            seen_ids[control.id] = rel
            problems.extend(f"{where}: {p}" for p in _check_control(control, cf, kb))
    for coa in kb.courses_of_action:
        if coa.key not in covered:
            problems.append(
                f"benchmark/{coa.key}.yaml: missing (every course of action has controls)"
            )
    if problems or info is None:
        raise KbDataError(problems)
    ordered = sorted(files, key=lambda item: item[1].section)
    return Benchmark(
        info,
        tuple(Section(cf.section, cf.course_of_action, cf.controls) for _, cf in ordered),
    )


def _check_control(control: Control, cf: ControlFile, kb: KnowledgeBase) -> list[str]:
    problems = []
    for key in control.closes:
        try:
            kb.vulnerability(key)
        except KeyError:
            problems.append(f"field closes: no vulnerability {key!r}")
    for key in control.also_implements:
        if key == cf.course_of_action:
            problems.append(f"field also_implements: {key!r} is the file's own course of action")
        try:
            kb.course_of_action(key)
        except KeyError:
            problems.append(f"field also_implements: no course of action {key!r}")
    for ext in control.mappings.atlas:
        try:
            kb.mitre_object(ext)
        except KeyError:
            problems.append(f"field mappings.atlas: {ext} has no file in kb/data/mitre/")
    coa = kb.course_of_action(cf.course_of_action)
    clouds = {p.value for p in control.platforms}
    for cloud in Cloud:
        steps = getattr(control.remediation, cloud.value)
        available = len(coa.cloud[cloud].steps)
        for step in steps:
            if step > available:
                problems.append(
                    f"field remediation.{cloud.value}: step {step} does not exist "
                    f"({coa.key} has {available} {cloud.value} steps)"
                )
        if cloud.value in clouds and not steps and not control.remediation.other:
            problems.append(
                f"field remediation.{cloud.value}: missing for a platform it applies to "
                "(steps of the course of action, or a note in remediation.other)"
            )
    if Platform.KUBERNETES in control.platforms and not control.remediation.other:
        problems.append("field remediation.other: missing for kubernetes")
    if not control.audit.automated:
        for platform in control.platforms:
            if platform not in control.audit.manual:
                problems.append(
                    f"field audit.manual.{platform.value}: a control without rules needs a "
                    "manual procedure for every platform it applies to"
                )
    return problems
