"""``scan models`` on remote locations (s3://, gs://, az://, hf://): the options that only
apply there, and the merge with a local scan when both kinds of path are given."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlstix.cli import _console
from mlstix.cli._params import ExistingPath
from mlstix.errors import UsageError

if TYPE_CHECKING:
    from mlstix.findings.model import Report
    from mlstix.scan.models import ScanOptions
    from mlstix.scan.remote import RemoteOptions, RemoteStats
    from mlstix.scan.remote._background import Agent

__all__ = [
    "ModelLocation",
    "local_model",
    "parse_size",
    "remote_paths",
    "scan_with_remote",
    "start_listing",
]

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 1000**2, "mb": 1000**2,
          "mib": 1 << 20, "g": 1000**3, "gb": 1000**3, "gib": 1 << 30, "t": 1000**4,
          "tb": 1000**4, "tib": 1 << 40}  # fmt: skip


def parse_size(text: str) -> int:
    """``256MiB``, ``1G``, ``500kb``, ``1048576`` -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS or float(m.group(1)) <= 0:
        raise UsageError(f"--max-bytes-per-file {text!r}: not a size (examples: 64MiB, 1G, 500000)")
    return int(float(m.group(1)) * _UNITS[unit])


class ModelLocation(ExistingPath):
    """An existing local path, or a remote location (s3://, gs://, az://, hf://) kept as text."""

    def convert(  # type: ignore[override]
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Path | str:
        from mlstix.scan.remote._fs import is_remote

        if isinstance(value, str) and is_remote(value):
            return value
        return super().convert(value, param, ctx)


@contextlib.contextmanager
def local_model(location: Path | str) -> Iterator[Path]:
    """``location`` itself, or a temporary local copy of a remote model (hashing reads every
    byte anyway: signatures and BOMs need the whole files)."""
    if isinstance(location, Path):
        yield location
        return
    from mlstix.scan.remote._download import local_copy

    _console.err_console.print(f"fetching {location} to hash every file", highlight=False)
    with local_copy(location) as path:
        yield path


def start_listing(paths: tuple[str, ...], executor: str) -> Agent[Any] | None:
    """For remote locations scanned here (the local executor): the scan's agent, forked now,
    before this process imports the model scanner, the knowledge base and pydantic, so that it
    imports the store's SDK and lists while this process gets the rest ready (a rescan that
    finds little changed is mostly that fixed cost). It ends with the command, whatever
    happens: :func:`scan_with_remote` hands it to the scan, and click's context cancels it."""
    from mlstix.scan.remote._fs import is_remote, parse

    remote = [p for p in paths if is_remote(p)]
    if not remote or executor.lower() != "local":
        return None
    for path in remote:
        parse(path)  # a bad location is its one error line, before anything is forked
    from mlstix.scan.remote._listing import start_agent

    agent = start_agent(remote)
    ctx = click.get_current_context()
    ctx.call_on_close(agent.cancel)
    _pause_gc()  # until the scan starts: the scanner's imports (see remote._background.paused_gc)
    ctx.call_on_close(_resume_gc)
    return agent


_gc_paused = False


def _pause_gc() -> None:
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True


def _resume_gc() -> None:
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.enable()


def remote_paths(paths: tuple[str, ...]) -> list[str]:
    from mlstix.scan.remote._fs import is_remote

    return [p for p in paths if is_remote(p)]


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` for a person: two significant digits, never an exponent (100%)."""
    share = 100 * part / whole
    return f"{share:.0f}%" if share >= 10 else f"{share:.2g}%"


def _with_progress(
    paths: list[str],
    options: ScanOptions,
    settings: RemoteOptions,
    stats: RemoteStats,
    agent: Agent[Any] | None,
) -> Report:
    """A progress bar on the terminal (stderr) while objects are analysed, removed when done:
    objects and bytes of the new and changed objects, as they finish."""
    from mlstix.cli._console import progress_bar
    from mlstix.kb.load import load_kb
    from mlstix.scan.remote import scan_remote

    with progress_bar("scanning remote models") as (on_start, progress):
        return scan_remote(paths, load_kb, options, settings, stats=stats, progress=progress,
                           on_start=on_start, agent=agent)  # fmt: skip


def scan_with_remote(
    paths: tuple[str, ...],
    options: ScanOptions,
    hash_files: bool | None,
    state: str | None,
    executor: str,
    ray_address: str | None,
    max_bytes: str | None,
    agent: Agent[Any] | None = None,
) -> Report:
    """Scan the remote ``paths`` (and the local ones with the local scanner) into one report;
    ``agent`` is :func:`start_listing`'s."""
    from mlstix.findings.model import Report
    from mlstix.kb.load import load_kb
    from mlstix.scan.models import scan_models
    from mlstix.scan.remote import RemoteOptions, RemoteStats, scan_remote

    remote = remote_paths(paths)
    local = [p for p in paths if p not in remote]
    if not remote:
        raise UsageError(
            "--state, --executor ray, --ray-address and --max-bytes-per-file apply to remote "
            "locations (s3://, gs://, az://, hf://); none was given"
        )
    if options.trust.given:
        raise UsageError(
            "signature verification of remote models is `mlstix verify URL`; "
            "scan models checks no signatures on s3://, gs://, az:// or hf:// locations"
        )
    settings = RemoteOptions(
        state=state,
        executor=executor,
        ray_address=ray_address,
        max_bytes_per_file=parse_size(max_bytes) if max_bytes else 0,
        in_flight=options.jobs or min(16, 4 * (os.cpu_count() or 1)),
    )
    stats = RemoteStats()
    remote_options = dataclasses.replace(options, hash_files=bool(hash_files))
    _resume_gc()
    if sys.stderr.isatty():
        report = _with_progress(remote, remote_options, settings, stats, agent)
    else:
        report = scan_remote(remote, load_kb, remote_options, settings, stats=stats, agent=agent)
    # What the scan built (modules, knowledge base, listing, results) lives until the process
    # renders the report and ends: spare the cyclic collector walking it again, at exit above
    # all (about 0.15 s of CPU, a sixth of a nightly rescan that finds little changed)
    gc.freeze()
    share = f" ({_percent(stats.fetched_bytes, stats.total_bytes)})" if stats.total_bytes else ""
    unchanged = f"; {stats.reused} unchanged since the last scan" if state else ""
    _console.err_console.print(
        f"fetched {_human(stats.fetched_bytes)} of {_human(stats.total_bytes)}{share} in "
        f"{stats.requests} range read{'s' * (stats.requests != 1)} for {stats.analysed} of "
        f"{stats.objects} object{'s' * (stats.objects != 1)}"
        f"{unchanged}",
        highlight=False,
        soft_wrap=True,
    )
    if not local:
        return report
    other = scan_models(local, load_kb, options)
    return Report.build(
        "models",
        (*report.scanned, *other.scanned),
        (*report.findings, *other.findings),
        (*report.errors, *other.errors),
        rules_run=(*report.rules_run, *other.rules_run),
    )
