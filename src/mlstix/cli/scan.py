"""``mlstix scan``: the scanner command group. ``mlstix scan models PATH...`` lives here; other
scanners add their command to :data:`scan` (``scan.add_command(...)``) from their own module.

Exit codes (DESIGN.md): 0 no finding at or above ``--fail-on``, 1 findings at or above it,
2 the scan could not run (bad arguments, missing paths, bad policy or key) or some file could
not be scanned (unreadable, analysis failed, symlink out of the root): the report is still
written and lists those files under ``errors``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlstix.cli._params import AliasedOption
from mlstix.cli._report import emit, report_options
from mlstix.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlstix.findings.model import Report
    from mlstix.kb.graph import KnowledgeBase
    from mlstix.scan.models import ScanOptions

__all__ = ["scan"]


@click.group()
def scan() -> None:
    """Scan model artifacts (and, with other sub-commands, infrastructure) for the knowledge
    base's vulnerabilities."""


_POLICY_HELP = (
    "YAML policy: allow_imports (fnmatch on module.name), severity (rule id -> level), "
    "ignore_paths (fnmatch on paths relative to the scanned folder)."
)


@scan.command("models")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@report_options
@click.option("--policy", "policy_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=_POLICY_HELP)  # fmt: skip
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Leave out paths matching GLOB (fnmatch on the path relative to the scanned "
              "folder; repeatable). Adds to the policy's ignore_paths.")  # fmt: skip
@click.option("--jobs", "-j", "--workers", "jobs", cls=AliasedOption, hidden_aliases=("--workers",),
              type=click.IntRange(0, 64), default=0, show_default="auto",
              help="Files scanned in parallel (0: one worker per 2 s or so of expected work, "
              "at most one per core).")  # fmt: skip
@click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path),
              help="Verify model.sig signatures against this PEM public key.")  # fmt: skip
@click.option("--hash/--no-hash", "hash_files", default=None,
              help="Compute the SHA-256 of every scanned file (reads each file in full). "
              "Default: on for local files, off for remote locations.")  # fmt: skip
@click.option("--state", metavar="FILE|URL",
              help="Remote locations: incremental state (SQLite file, or a postgresql:// URL); "
              "a rescan analyses only new and changed objects.")  # fmt: skip
@click.option("--executor", type=click.Choice(["local", "ray"], case_sensitive=False),
              default="local", show_default=True,
              help="Remote locations: analyse here, or as tasks on a Ray cluster.")  # fmt: skip
@click.option("--ray-address", metavar="ADDRESS",
              help="Ray cluster for --executor ray (default: RAY_ADDRESS).")  # fmt: skip
@click.option("--max-bytes-per-file", metavar="SIZE", default=None,
              help="Remote locations: fetch at most SIZE bytes per object (e.g. 256MiB); an "
              "object that needs more is an error entry, never skipped silently.")  # fmt: skip
@click.option("--identity", help="Verify Sigstore signatures made by this identity.")
@click.option("--identity-provider", help="OIDC issuer of --identity.")
def models(
    paths: tuple[str, ...],
    fmt: str | None,
    output: str,
    fail_on: str,
    policy_file: Path | None,
    exclude: tuple[str, ...],
    jobs: int,
    hash_files: bool | None,
    state: str | None,
    executor: str,
    ray_address: str | None,
    max_bytes_per_file: str | None,
    public_key: Path | None,
    identity: str | None,
    identity_provider: str | None,
) -> None:
    """Scan model files, folders and archives (PyTorch, pickle, joblib, NumPy, Keras,
    TensorFlow, ONNX, GGUF, safetensors) without loading them. PATH may also be a remote
    location: s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX,
    hf://ORG/MODEL[@REVISION] (needs mlstix[remote]; see docs/remote.md).

    Exit codes: 0 no finding at or above --fail-on; 1 findings at or above it; 2 the scan
    could not run, or some file could not be scanned (the report lists it under errors).
    """
    from mlstix.cli._remote import start_listing

    agent = start_listing(paths, executor)  # first: it lists while the scanner is imported
    from mlstix.kb.load import load_kb
    from mlstix.scan.models import ScanOptions, ScanPolicy, Trust, load_policy, scan_models

    if public_key is not None and identity is not None:
        raise UsageError("give either --public-key or --identity, not both")
    if (identity is None) != (identity_provider is None):
        raise UsageError("--identity and --identity-provider go together")
    if public_key is not None and not public_key.is_file():
        if not public_key.exists():  # (missing, or a symbolic link that leads nowhere)
            raise UsageError(f"--public-key {public_key}: no such file or directory")
        raise UsageError(f"--public-key {public_key}: not a regular file")
    policy = load_policy(policy_file) if policy_file else ScanPolicy()
    if exclude:
        policy = policy.model_copy(update={"ignore_paths": (*policy.ignore_paths, *exclude)})
    options = ScanOptions(
        jobs=jobs,
        policy=policy,
        trust=Trust(public_key, identity, identity_provider),
        hash_files=hash_files is not False,
    )
    from mlstix.cli._remote import remote_paths, scan_with_remote

    remote = remote_paths(paths)
    if remote or state or executor.lower() != "local" or ray_address or max_bytes_per_file:
        report = scan_with_remote(paths, options, hash_files, state, executor.lower(),
                                  ray_address, max_bytes_per_file, agent)  # fmt: skip
    else:
        if public_key is not None:
            _check_public_key(public_key)
        if sys.stderr.isatty():
            report = _with_progress(paths, load_kb, options)
        else:
            report = scan_models(paths, load_kb, options)
    if not (report.scanned or report.findings or report.errors):
        raise UsageError(
            f"nothing to scan: no model files in {', '.join(paths)} (no file there is named or "
            "built like a format mlstix reads)",
            hint="pass model files or the folders that hold them (PyTorch, pickle, joblib, NumPy, "
            "Keras, TensorFlow, ONNX, GGUF, safetensors)",
        )
    hint = "Leave them out with --exclude if intended."
    sys.exit(emit(report, fmt, output, fail_on, skip_hint=hint))


def _with_progress(
    paths: tuple[str, ...], kb: Callable[[], KnowledgeBase], options: ScanOptions
) -> Report:
    """Scan with a progress bar on the terminal (stderr), removed when done."""
    from mlstix.cli._console import progress_bar
    from mlstix.scan.models import scan_models

    with progress_bar("scanning models") as (on_start, progress):
        return scan_models(paths, kb, options, progress=progress, on_start=on_start)


def _check_public_key(path: Path) -> None:
    """A key that is not a PEM public key is a usage error before the scan, not only when a
    signature happens to need it."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        load_pem_public_key(path.read_bytes())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"--public-key {path}: not a PEM public key ({reason})") from None
