"""Manual attestations: a reviewer's recorded decision on a control that no rule decides.

The file is YAML, untrusted input, validated with pydantic::

    attestations:
      - control: MLCS-8.2
        result: pass               # pass | fail | not-applicable
        by: Jane Doe <jane@example.com>
        date: 2026-11-30
        evidence: https://tickets.example.com/SEC-1234
        expires: 2027-05-30        # optional: an expired attestation is ignored (and reported)
        note: optional free text

Every problem is reported with the file and the entry; an unknown control id is an error, as is
the same control attested twice.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlstix.errors import UsageError
from mlstix.kb._yaml import load as load_yaml
from mlstix.kb._yaml import problem
from mlstix.kb.controls import CONTROL_ID, Benchmark

__all__ = ["Attestation", "AttestedResult", "load_attestations"]


class AttestedResult(StrEnum):
    PASS = "pass"  # noqa: S105
    FAIL = "fail"
    NOT_APPLICABLE = "not-applicable"


class Attestation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    control: Annotated[str, Field(pattern=CONTROL_ID)]
    result: AttestedResult
    by: Annotated[str, Field(min_length=1)]
    date: dt.date
    evidence: Annotated[str, Field(min_length=1)]
    expires: dt.date | None = None
    note: str = ""


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attestations: list[Attestation]


def load_attestations(path: Path, benchmark: Benchmark, today: dt.date) -> dict[str, Attestation]:
    """Control id -> its attestation. Expired ones are left out (the caller reports them)."""
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no such attestation file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {(exc.strerror or str(exc)).lower()}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {path}: not UTF-8 text ({exc.reason})") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {problem(exc)}") from None
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise UsageError(
            f"{path}: field {where}: {msg}",
            hint="see `mlstix benchmark assess --help` for the attestation format",
        ) from None
    out: dict[str, Attestation] = {}
    for index, item in enumerate(parsed.attestations):
        where = f"{path}: attestations[{index}]"
        try:
            benchmark.control(item.control)
        except KeyError:
            raise UsageError(f"{where}: no control {item.control}") from None
        if item.control in out:
            raise UsageError(f"{where}: {item.control} is attested twice")
        if item.date > today:
            raise UsageError(f"{where}: date {item.date} is in the future")
        out[item.control] = item
    return out


def expired(attestation: Attestation, today: dt.date) -> bool:
    return attestation.expires is not None and attestation.expires < today
