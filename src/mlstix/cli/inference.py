"""``mlstix detect inference LOG...``: model extraction and adversarial probing found in the
queries an endpoint answered.

Exit codes (DESIGN.md): 0 no finding at or above ``--fail-on``, 1 findings at or above it, 2 the
run could not start (bad arguments) or some line could not be read (the report is still
written and lists each file and line under ``errors``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mlstix.cli._params import ExistingPath
from mlstix.cli._process import collector_off, skip_teardown
from mlstix.cli._report import EXIT_CODES_HELP, emit, report_options

__all__ = ["inference"]

# the BLAS libraries NumPy may be built on, and the variable each reads when it is loaded
_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def _one_blas_thread() -> bool:
    """Hold NumPy's BLAS to one thread from the moment it is loaded (the detectors' matrices
    are small: a multi-threaded BLAS spends more time waking threads than multiplying), so the
    engine need not import threadpoolctl to change it afterwards; OpenBLAS also starts faster
    (0.014 CPU-s) without its thread pool. Only possible before NumPy is imported: ``False``
    when it already is (the engine then limits it with threadpoolctl)."""
    if "numpy" in sys.modules:
        return False
    for name in _BLAS_THREADS:
        os.environ[name] = "1"
    return True


_CLIENT_KEY_HELP = (
    "Where the caller is: field:NAME (a record or metadata field; default field:client), "
    "attr:NAME (a key=value custom attribute), json:PATH (inside the request body, e.g. "
    "json:$.user), inference-id-prefix:SEP (the request id before SEP), or "
    "join:REQUEST_FIELD=CLIENT_FIELD with --access-log."
)


@click.command("inference", epilog=EXIT_CODES_HELP)
@click.argument("logs", nargs=-1, required=True, metavar="LOG...", type=ExistingPath())
@click.option("--client-key", metavar="SPEC", help=_CLIENT_KEY_HELP)
@click.option("--access-log", "access_logs", multiple=True, type=ExistingPath(dir_okay=False),
              help="JSON-lines access log for --client-key join:… (repeatable).")  # fmt: skip
@click.option("--model-type", type=click.Choice(["classifier", "other"], case_sensitive=False),
              default="classifier", show_default=True,
              help="classifier: outputs are classes (PRADA compares queries per class); other: "
              "outputs are ignored.")  # fmt: skip
@click.option("--window", type=click.IntRange(min=20, max=10_000), default=200, show_default=True,
              help="Recent queries kept per client (near-duplicate, step detectors).")  # fmt: skip
@click.option("--threshold-profile", "profile",
              type=click.Choice(["balanced", "strict"], case_sensitive=False),
              default="balanced", show_default=True,
              help="strict flags earlier and accepts more false positives.")  # fmt: skip
@click.option("--warmup", type=click.IntRange(min=20), default=2000, show_default=True,
              help="Queries read first to learn the endpoint's baseline.")  # fmt: skip
@click.option("--max-clients", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Clients kept at once (least recently seen dropped).")  # fmt: skip
@report_options
def inference(
    logs: tuple[Path, ...],
    client_key: str | None,
    access_logs: tuple[Path, ...],
    model_type: str,
    window: int,
    profile: str,
    warmup: int,
    max_clients: int,
    fmt: str | None,
    output: str,
    fail_on: str,
) -> None:
    """Find model extraction (PRADA, input-space coverage, synthetic signed steps) and
    query-based adversarial probing (stateful near-duplicate detection) in inference logs:
    SageMaker Data Capture, Azure ML data collector, Vertex AI request-response logging
    exported as JSON lines, or plain {"client","time","input","output"} JSON lines.
    Files may be gzipped; folders are read recursively.

    Exit codes: 0 no finding at or above --fail-on; 1 findings at or above it; 2 the run could
    not start, or some file or line could not be read (the report lists it under errors).
    """
    pinned = _one_blas_thread()
    with collector_off():  # NumPy and the detectors: about 0.1 CPU-s of imports
        from mlstix.detect.inference import InferenceOptions, detect_inference

    options = InferenceOptions(
        client_key=client_key,
        access_logs=access_logs,
        model_type=model_type.lower(),
        window=window,
        profile=profile.lower(),
        warmup=warmup,
        max_clients=max_clients,
        blas_pinned=pinned,
    )
    # the findings' terms read from the rule and knowledge-base files they need (._terms)
    report = detect_inference([str(p) for p in logs], None, options)
    code = emit(report, fmt, output, fail_on)
    skip_teardown()  # the report is written; nothing is left to finalise
    sys.exit(code)
