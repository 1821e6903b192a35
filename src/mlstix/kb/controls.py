"""The ML Cloud Security Benchmark: numbered, testable controls authored as KB data.

Controls live under ``kb/data/benchmark/``: ``benchmark.yaml`` carries the benchmark's identity
(title, version, release date) and each other file holds the controls of one course of action,
named ``<course-of-action key>.yaml``. Like the rest of the knowledge base this is a trust boundary:
pydantic validates every file with ``extra="forbid"``, and :func:`load_benchmark` then checks every
reference against the loaded :class:`~mlstix.kb.graph.KnowledgeBase` (vulnerabilities, courses of
action, MITRE ATLAS mitigations, the course of action's per-cloud steps a remediation points at)
and raises one :class:`~mlstix.errors.KbDataError` listing every problem with file and field.

Controls are not STIX objects and the STIX bundles gain nothing from them; they are published as
OSCAL (``mlstix.benchmark.oscal``), in the explorer site and in ``kb export``.

Framework identifiers are checked against the tables in :mod:`mlstix.kb._frameworks`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlstix.kb import _frameworks
from mlstix.kb.graph import KnowledgeBase

__all__ = [
    "Audit",
    "Benchmark",
    "BenchmarkInfo",
    "Control",
    "ControlFile",
    "Mappings",
    "Platform",
    "Remediation",
    "RemediationStep",
    "Section",
    "load_benchmark",
    "load_benchmark_from",
]

CONTROL_ID = r"^MLCS-[1-9]\.[1-9][0-9]?$"
_KEY = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_RULE_ID = r"^(models/[a-z0-9-]+|MLSTIX-[A-Z0-9]+(?:-[A-Z0-9]+)*-\d{3})$"
# A rule pattern is explicit: a prefix that ends in ``*`` and is matched with fnmatch semantics.
_RULE_PATTERN = r"^(models/[a-z0-9-]*|MLSTIX-[A-Z0-9-]*)\*$"


class Platform(StrEnum):
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    KUBERNETES = "kubernetes"
    ANY = "any"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


NonEmpty = Annotated[str, Field(min_length=1)]


class Audit(_Strict):
    """How a control is decided: by rule results, by a reviewer, or both."""

    rules: tuple[Annotated[str, Field(pattern=_RULE_ID)], ...] = Field(
        default=(), description="scanner and assessment rule ids whose results decide it"
    )
    rule_patterns: tuple[Annotated[str, Field(pattern=_RULE_PATTERN)], ...] = Field(
        default=(),
        description="explicit prefixes (ending in *) for rule families added later",
    )
    manual: dict[Platform, NonEmpty] = Field(
        default_factory=dict,
        description="per platform: the exact console path, CLI command or API call to check",
    )
    rules_can_pass: bool = Field(
        default=True,
        description=(
            "false when the rules can find a failure but cannot show the control is met (what "
            "meets it is not in what they read): a pass then needs the manual audit, attested"
        ),
    )

    rules_pass_on: tuple[Platform, ...] | None = Field(
        default=None,
        description=(
            "the platforms on which its rules, run clean, show the control is met (default: every "
            "platform one of them judges); on the others the rules can fail it, and a pass needs "
            "the manual audit, attested"
        ),
    )

    @model_validator(mode="after")
    def _decidable(self) -> Audit:
        if not (self.rules or self.rule_patterns or self.manual):
            raise ValueError("a control needs rules or a manual procedure")
        if self.rules_pass_on is not None:
            if not self.rules_can_pass or not self.automated:
                raise ValueError("rules_pass_on needs rules that can pass (rules_can_pass true)")
            left = [p.value for p in Platform if p not in self.rules_pass_on and p in self.manual]
            if not left:
                raise ValueError("rules_pass_on leaves no platform to the manual audit")
        return self

    @property
    def automated(self) -> bool:
        return bool(self.rules or self.rule_patterns)


class Remediation(_Strict):
    """Steps of the course of action's per-cloud guidance (1-based), plus a note for others."""

    aws: tuple[Annotated[int, Field(ge=1)], ...] = ()
    azure: tuple[Annotated[int, Field(ge=1)], ...] = ()
    gcp: tuple[Annotated[int, Field(ge=1)], ...] = ()
    other: str = Field(default="", description="Kubernetes or platform-neutral remediation")

    @model_validator(mode="after")
    def _something(self) -> Remediation:
        if not (self.aws or self.azure or self.gcp or self.other):
            raise ValueError("a remediation needs course-of-action steps or a note")
        return self


class Mappings(_Strict):
    nist_800_53: tuple[NonEmpty, ...] = Field(min_length=1)
    ai_rmf: tuple[NonEmpty, ...] = Field(min_length=1)
    owasp_ml: tuple[Annotated[str, Field(pattern=r"^ML(0[1-9]|10):2023$")], ...] = ()
    atlas: tuple[Annotated[str, Field(pattern=r"^AML\.M\d{4}$")], ...] = ()
    eu_ai_act: tuple[NonEmpty, ...] = ()

    @field_validator("nist_800_53")
    @classmethod
    def _nist(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in _frameworks.NIST_800_53]
        if unknown:
            raise ValueError(f"not a checked NIST SP 800-53 Rev. 5 control: {', '.join(unknown)}")
        return value

    @field_validator("ai_rmf")
    @classmethod
    def _rmf(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in _frameworks.AI_RMF]
        if unknown:
            raise ValueError(f"not a NIST AI RMF 1.0 subcategory: {', '.join(unknown)}")
        return value

    @field_validator("eu_ai_act")
    @classmethod
    def _eu(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in _frameworks.EU_AI_ACT]
        if unknown:
            raise ValueError(f"not a checked EU AI Act provision: {', '.join(unknown)}")
        return value


class Control(_Strict):
    id: Annotated[str, Field(pattern=CONTROL_ID)]
    title: NonEmpty
    level: Literal[1, 2]
    platforms: tuple[Platform, ...] = Field(min_length=1)
    statement: NonEmpty = Field(description="what must be true, one or two sentences")
    rationale: NonEmpty
    impact: NonEmpty = Field(description="what applying the control costs or breaks")
    closes: tuple[Annotated[str, Field(pattern=_KEY)], ...] = Field(
        min_length=1, description="KB vulnerability keys"
    )
    also_implements: tuple[Annotated[str, Field(pattern=_KEY)], ...] = Field(
        default=(), description="further courses of action besides the file's"
    )
    audit: Audit
    remediation: Remediation
    mappings: Mappings

    @property
    def number(self) -> tuple[int, int]:
        major, minor = self.id.removeprefix("MLCS-").split(".")
        return int(major), int(minor)

    def applies_to(self, platform: str | None) -> bool:
        return platform is None or Platform.ANY in self.platforms or platform in self.platforms


class ControlFile(_Strict):
    """One file of controls: the controls implementing one course of action."""

    course_of_action: Annotated[str, Field(pattern=_KEY)]
    section: Annotated[int, Field(ge=1, le=9)]
    controls: tuple[Control, ...] = Field(min_length=1)


class BenchmarkInfo(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    title: NonEmpty
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")]
    released: date
    description: NonEmpty


@dataclass(frozen=True)
class Section:
    number: int
    course_of_action: str  # KB key
    controls: tuple[Control, ...]


@dataclass(frozen=True)
class Benchmark:
    info: BenchmarkInfo
    sections: tuple[Section, ...]

    @property
    def controls(self) -> tuple[Control, ...]:
        return tuple(c for s in self.sections for c in s.controls)

    def control(self, control_id: str) -> Control:
        wanted = control_id.upper()
        for c in self.controls:
            if c.id == wanted:
                return c
        raise KeyError(f"no control {control_id!r}")

    def section_of(self, control: Control) -> Section:
        return next(s for s in self.sections if control in s.controls)

    def courses_of_action(self, control: Control) -> tuple[str, ...]:
        """The course of action the control implements first, then the others."""
        return (self.section_of(control).course_of_action, *control.also_implements)

    def select(self, level: int | None = None, platform: str | None = None) -> Iterator[Control]:
        for c in self.controls:
            if (level is None or c.level <= level) and c.applies_to(platform):
                yield c

    def rules_of(self, control: Control, known: set[str]) -> tuple[str, ...]:
        """The control's rule ids: its exact ids plus the ``known`` ids its patterns match."""
        out = list(control.audit.rules)
        for pattern in control.audit.rule_patterns:
            prefix = pattern[:-1]
            out.extend(sorted(r for r in known if r.startswith(prefix) and r not in out))
        return tuple(out)


def load_benchmark(kb: KnowledgeBase) -> Benchmark:
    """The packaged benchmark (or the one beside ``MLSTIX_KB_DATA``), checked against ``kb``."""
    from mlstix.kb.load import data_dir

    override = os.environ.get("MLSTIX_KB_DATA")
    root = Path(override) if override else data_dir()
    return load_benchmark_from(root / "benchmark", kb)


def load_benchmark_from(folder: Path, kb: KnowledgeBase) -> Benchmark:
    from mlstix.kb._controls_load import read_benchmark

    return read_benchmark(folder, kb)


@dataclass(frozen=True)
class RemediationStep:
    platform: str  # a cloud's title ("AWS"), or "" for the control's own note
    course_of_action: str  # KB key ("" for the note)
    step: int  # 1-based step of the course of action's cloud guidance (0 for the note)
    text: str


def remediation_steps(
    bench: Benchmark, control: Control, kb: KnowledgeBase
) -> list[RemediationStep]:
    """The control's remediation: the course of action's per-cloud steps it points at (the text
    comes from the course of action, never a copy), then its own note for other platforms."""
    from mlstix.kb.model import Cloud

    coa = kb.course_of_action(bench.section_of(control).course_of_action)
    out = [
        RemediationStep(cloud.title, coa.key, n, " ".join(coa.cloud[cloud].steps[n - 1].split()))
        for cloud in Cloud
        for n in getattr(control.remediation, cloud.value)
    ]
    if control.remediation.other:
        out.append(RemediationStep("", "", 0, " ".join(control.remediation.other.split())))
    return out
