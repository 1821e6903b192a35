"""Benchmark assessments: decide the ML Cloud Security Benchmark's controls from mlstix reports.

The controls themselves are knowledge-base data (:mod:`mlstix.kb.controls`). This package turns
JSON reports of ``scan models``, ``scan iac`` and ``assess`` plus manual attestations into control
results (:mod:`~mlstix.benchmark.assess`), a scorecard (:mod:`~mlstix.benchmark.scorecard`) and
OSCAL documents (:mod:`~mlstix.benchmark.oscal`, which needs the ``benchmark`` extra).
"""

from mlstix.benchmark.assess import Assessment, ControlResult, Status, assess

__all__ = ["Assessment", "ControlResult", "Status", "assess"]
