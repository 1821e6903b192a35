"""Cloud audit logs judged by Sigma rules: ``mlstix detect``.

:func:`detect_logs` reads CloudTrail (S3 delivery, CloudTrail Lake, EventBridge), Azure Activity
Log, Google Cloud audit LogEntry and Kubernetes audit files (:mod:`._shapes`), evaluates the
knowledge base's Sigma rules (or a folder of the user's) with pySigma converted to DuckDB SQL
(:mod:`._sql`, :mod:`._engine`), and returns a :class:`~mlstix.findings.model.Report` whose
findings name the rule, the event's time, principal, source IP and resource, and carry the event.
:func:`export_rules` converts the rules for a SIEM (:mod:`.export`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from mlstix.findings.model import Report
from mlstix.kb.graph import KnowledgeBase

__all__ = ["detect_logs"]


def detect_logs(
    kb: KnowledgeBase,
    paths: Iterable[Path],
    *,
    rules_dir: Path | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    jobs: int | None = None,
    max_per_rule: int | None = None,
) -> Report:
    """Evaluate the rules over every log file under ``paths`` (``-``: standard input).

    ``max_per_rule``: findings listed per rule and file (default 100, 0: all); the matches past
    it are one summary finding with their count in ``evidence["more_matches"]``.
    """
    from mlstix.detect.logs._engine import collect, scan_files
    from mlstix.detect.logs._limits import MAX_FINDINGS_PER_RULE
    from mlstix.detect.logs._stdin import STDIN, spooled

    plans = _plans(kb, rules_dir)
    paths = list(dict.fromkeys(paths))
    workers = jobs if jobs and jobs > 0 else (os.cpu_count() or 1)
    cap = MAX_FINDINGS_PER_RULE if max_per_rule is None else max_per_rule
    with contextlib.ExitStack() as stack:
        names: dict[Path, str] = {}
        if Path(STDIN) in paths:  # standard input, spooled to a temporary file first
            spool = stack.enter_context(spooled())
            names[spool] = STDIN
            paths = [spool if p == Path(STDIN) else p for p in paths]
        files, errors = collect(paths)
        results = scan_files(kb, plans, files, (since, until), workers, cap, names)
    return Report.build(
        "detect",
        [r.scanned for r in results if r.scanned is not None],
        [f for r in results for f in r.findings],
        [*errors, *(e for r in results for e in r.errors)],
    )


# knowledge base (kept alive here, so its id is not reused) and rules folder -> converted rules
_PLANS: dict[tuple[int, Path | None], tuple[KnowledgeBase, dict[str, Any]]] = {}


def _plans(kb: KnowledgeBase, rules_dir: Path | None) -> dict[str, Any]:
    """The rules converted once per process for the knowledge base's own rules; a user's rules
    folder is read again on every call (it may have changed)."""
    from mlstix.detect.logs._rules import load_rules, plan

    if rules_dir is not None:
        return plan(load_rules(kb, rules_dir))
    key = (id(kb), None)
    if key not in _PLANS:
        _PLANS[key] = (kb, plan(load_rules(kb)))
    return _PLANS[key][1]
