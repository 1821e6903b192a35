"""``mlstix assess``: judge a running ML estate (``aws``, ``azure``, ``gcp``, ``kubernetes``) or
a saved snapshot.

Each cloud command reads through the SDK's default credential chain, turns what it reads into
resources, runs the IaC rules of that cloud plus the live-only rules, and reports through the
shared ``report_options``/``emit`` (formats, ``--fail-on`` and exit codes of DESIGN.md: 0 clean,
1 findings at or above ``--fail-on``, 2 could not run or some API could not be read).
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from mlstix.cli._report import emit, report_options
from mlstix.errors import KbDataError

__all__ = ["assess"]

F = TypeVar("F", bound=Callable[..., Any])

_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_HINT = "(Here an error is an API that could not be read: docs/assess.md lists the read-only role.)"


# Names as the providers define them, checked before any credential is looked up: Azure
# subscription ids are GUIDs and resource group names 1-90 of letters, digits, _ ( ) - . (not
# ending in .); Google project ids 6-30 of a-z 0-9 - (a letter first; a legacy "domain:" prefix
# allowed) and Vertex AI locations like us-central1; Kubernetes namespaces RFC 1123 labels.
_NAMES = {
    "subscription": (
        re.compile(r"(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
        "an Azure subscription id (a GUID)",
    ),
    "resource_groups": (re.compile(r"^[-\w.()]{0,89}[-\w()]$"), "an Azure resource group name"),
    "project": (
        re.compile(r"^(?:[a-z0-9.-]{1,63}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$"),
        "a Google Cloud project id",
    ),
    "locations": (re.compile(r"^[a-z]+-[a-z]+[0-9]{1,2}$"), "a Vertex AI region like us-central1"),
    "namespaces": (
        re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"),
        "a Kubernetes namespace name",
    ),
}


def _name(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    pattern, what = _NAMES[str(param.name)]
    for item in value if isinstance(value, tuple) else (value,):
        if item is not None and not pattern.match(item):
            raise click.BadParameter(f"{item!r} is not {what}")
    return value


def _size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in _SIZE_UNITS and text[-1:] else ""
    try:
        number = float(text[: len(text) - len(unit)] if unit else text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size like 512M or 2G") from None
    if number <= 0:
        raise click.BadParameter("must be more than 0")
    return int(number * _SIZE_UNITS[unit])


@dataclass(frozen=True)
class _Run:
    """The options every assess command shares: how to report, and how to read."""

    fmt: str | None
    output: str
    fail_on: str
    jobs: int = 8
    scan_artifacts: bool = False
    max_artifact_size: int = 0
    snapshot_out: Path | None = None


def _run_options(*, reading: bool) -> Callable[[F], F]:
    """Declare the shared options (report options, and with ``reading`` --scan-artifacts,
    --max-artifact-size, --snapshot-out, --jobs) and hand them to the command as one ``run``."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def command(*args: Any, fmt: str | None, output: str, fail_on: str, **kwargs: Any) -> Any:
            shared = {k: kwargs.pop(k) for k in _READING if k in kwargs}
            run = _Run(fmt=fmt, output=output, fail_on=fail_on, **shared)
            return func(*args, run=run, **kwargs)

        wrapped = report_options(command)
        if not reading:
            return cast(F, wrapped)
        wrapped = click.option(
            "--jobs",
            "-j",
            type=click.IntRange(1, 64),
            default=8,
            show_default=True,
            help="Concurrent API calls (bounded per run; the SDK's adaptive retries on "
            "throttling).",
        )(wrapped)
        wrapped = click.option(
            "--snapshot-out",
            type=click.Path(path_type=Path, file_okay=False),
            metavar="DIR",
            help="Also save what was read to DIR/snapshot.json (no credentials, secrets "
            "redacted); judge it later with `mlstix assess snapshot DIR`.",
        )(wrapped)
        wrapped = click.option(
            "--max-artifact-size",
            default="2G",
            show_default=True,
            callback=_size,
            metavar="SIZE",
            help="Largest artifact --scan-artifacts copies (e.g. 512M, 2G).",
        )(wrapped)
        return cast(
            F,
            click.option(
                "--scan-artifacts",
                is_flag=True,
                help="Copy the model artifact behind each deployed model (read-only, up to the "
                "size cap) and run the model scanner on it; findings land on the endpoint "
                "serving it.",
            )(wrapped),
        )

    return decorate


_READING = ("jobs", "scan_artifacts", "max_artifact_size", "snapshot_out")


@click.group("assess")
def assess() -> None:
    """Assess a running ML estate (read-only APIs) with the knowledge base's rules."""


def _finish(inventory: Any, artifacts: Sequence[Any], run: _Run) -> None:
    from mlstix.assess import evaluate_inventory, save_snapshot
    from mlstix.assess._artifacts import scan_artifacts
    from mlstix.cli._console import err_console
    from mlstix.kb.load import load_kb

    try:
        kb = load_kb()
    except KbDataError:
        kb = None
    extra: list[Any] = []
    extra_scanned: list[Any] = []
    if run.scan_artifacts and artifacts and kb is not None:
        result = scan_artifacts(artifacts, kb, max_size=run.max_artifact_size)
        extra, extra_scanned = result.findings, result.scanned
        inventory.errors.extend(result.errors)
        inventory.notes.extend(result.notes)
    elif run.scan_artifacts:
        inventory.note("--scan-artifacts: no deployed model names an artifact to scan")
    if run.snapshot_out is not None:
        path = save_snapshot(inventory, run.snapshot_out)
        err_console.print(f"snapshot written to {path}", highlight=False)
    report = evaluate_inventory(inventory, kb, extra_findings=extra, extra_scanned=extra_scanned)
    for note in sorted(inventory.notes):
        err_console.print(f"note: {note}", highlight=False, markup=False)
    sys.exit(emit(report, run.fmt, run.output, run.fail_on, skip_hint=_HINT))


@assess.command("aws")
@click.option("--profile", metavar="NAME", help="Profile of the AWS config files.")
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="REGION",
    help="Region to read (repeatable; default: the profile's region).",
)
@click.option("--all-regions", is_flag=True, help="Every region enabled for the account.")
@_run_options(reading=True)
def aws(
    profile: str | None,
    regions: tuple[str, ...],
    all_regions: bool,
    run: _Run,
) -> None:
    """Read SageMaker and what it depends on (S3, KMS, ECR, IAM, CloudTrail, GuardDuty).

    Credentials: boto3's default chain (environment, profiles, SSO, instance/container roles).
    Exit 0: nothing at or above --fail-on; 1: findings at or above it; 2: could not run, or
    some API could not be read (listed under errors).
    """
    from mlstix.assess.aws import AwsOptions, collect_aws

    if all_regions and regions:
        raise click.UsageError("--region and --all-regions exclude each other")
    inventory, artifacts = collect_aws(
        AwsOptions(profile=profile, regions=regions, all_regions=all_regions, jobs=run.jobs)
    )
    _finish(inventory, artifacts, run)


@assess.command("azure")
@click.option(
    "--subscription", required=True, metavar="ID", callback=_name, help="Subscription to read."
)
@click.option(
    "--resource-group",
    "resource_groups",
    multiple=True,
    metavar="RG",
    callback=_name,
    help="Only this resource group (repeatable; default: the whole subscription).",
)
@click.option(
    "--arm-endpoint",
    default="https://management.azure.com",
    show_default=True,
    metavar="URL",
    help="Azure Resource Manager endpoint (sovereign clouds: https://management.chinacloudapi.cn, "
    "https://management.usgovcloudapi.net).",
)
@_run_options(reading=True)
def azure(
    subscription: str,
    resource_groups: tuple[str, ...],
    arm_endpoint: str,
    run: _Run,
) -> None:
    """Read Azure Machine Learning workspaces, computes, endpoints, deployments, registries and
    the storage accounts, key vaults and container registries they use (Reader role suffices).

    Credentials: azure-identity's DefaultAzureCredential (environment, workload identity,
    managed identity, Azure CLI, ...).

    Exit 0: nothing at or above --fail-on; 1: findings at or above it; 2: could not run, or
    some API could not be read (listed under errors).
    """
    from mlstix.assess.azure import AzureOptions, collect_azure

    inventory, artifacts = collect_azure(
        AzureOptions(
            subscription=subscription,
            resource_groups=resource_groups,
            jobs=run.jobs,
            endpoint=arm_endpoint,
        )
    )
    _finish(inventory, artifacts, run)


@assess.command("gcp")
@click.option("--project", required=True, metavar="ID", callback=_name, help="Project to read.")
@click.option(
    "--location",
    "locations",
    multiple=True,
    metavar="REGION",
    callback=_name,
    help="Vertex AI region (repeatable; default us-central1).",
)
@_run_options(reading=True)
def gcp(
    project: str,
    locations: tuple[str, ...],
    run: _Run,
) -> None:
    """Read Vertex AI (endpoints, models, datasets, featurestores, metadata stores,
    tensorboards, index endpoints, recent custom and pipeline jobs), Workbench instances, the
    Cloud Storage buckets behind them and the project's Data Access audit-log configuration.

    Credentials: Google application-default credentials (read-only scope).

    Exit 0: nothing at or above --fail-on; 1: findings at or above it; 2: could not run, or
    some API could not be read (listed under errors).
    """
    from mlstix.assess.gcp import GcpOptions, collect_gcp

    inventory, artifacts = collect_gcp(
        GcpOptions(project=project, locations=locations or ("us-central1",), jobs=run.jobs)
    )
    _finish(inventory, artifacts, run)


@assess.command("kubernetes")
@click.option(
    "--kubeconfig", metavar="FILE", help="Kubeconfig (default: $KUBECONFIG, ~/.kube/config)."
)
@click.option("--context", metavar="NAME", help="Kubeconfig context (default: the current one).")
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    metavar="NS",
    callback=_name,
    help="Namespace to read (repeatable; default: all namespaces).",
)
@_run_options(reading=True)
def kubernetes(
    kubeconfig: str | None,
    context: str | None,
    namespaces: tuple[str, ...],
    run: _Run,
) -> None:
    """Read the model servers a cluster runs (KServe, Seldon, Triton, vLLM, ...) and judge them
    with the IaC Kubernetes rules, as the API server returns them (GET requests only).

    Exit 0: nothing at or above --fail-on; 1: findings at or above it; 2: could not run, or
    some kind could not be listed (listed under errors).
    """
    from mlstix.assess.kubernetes import KubeOptions, collect_kubernetes

    inventory = collect_kubernetes(
        KubeOptions(context=context, namespaces=namespaces, jobs=run.jobs, kubeconfig=kubeconfig)
    )
    if run.scan_artifacts:
        inventory.note("--scan-artifacts reads cloud model stores; it is not available here")
    _finish(inventory, [], replace(run, scan_artifacts=False))


@assess.command("snapshot")
@click.argument("folder", type=click.Path(path_type=Path))
@_run_options(reading=False)
def snapshot(folder: Path, run: _Run) -> None:
    """Judge a snapshot saved by --snapshot-out with today's rules, offline.

    Exit 0: nothing at or above --fail-on; 1: findings at or above it; 2: the snapshot could
    not be read, or it records APIs that could not be read when it was taken.
    """
    from mlstix.assess import load_snapshot

    inventory = load_snapshot(folder)
    _finish(inventory, [], run)
