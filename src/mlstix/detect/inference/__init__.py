"""Inference-time attack detection: model extraction and adversarial probing found in the
queries an endpoint answered (SageMaker Data Capture, Azure ML data collector, Vertex AI
request-response logging, plain JSON lines).

``detect_inference(paths, kb, InferenceOptions(...))`` returns a
:class:`~mlstix.findings.model.Report`. See :mod:`._detectors` for the methods and the papers
they follow.
"""

from mlstix.detect.inference.engine import InferenceOptions, detect_inference

__all__ = ["InferenceOptions", "detect_inference"]
