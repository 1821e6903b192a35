"""Python rules for SageMaker processing jobs (MLSTIX-AWS-PRC-001/002/003): the jobs that prepare
data and evaluate models, judged on the settings the training rules judge on training jobs.

IaC declares them as the Processing steps of SageMaker Pipelines (Terraform
``aws_sagemaker_pipeline.pipeline_definition``, CloudFormation ``AWS::SageMaker::Pipeline``;
step arguments follow the CreateProcessingJob API); ``mlstix assess aws`` reads recent
processing jobs (DescribeProcessingJob) and judges each as the Processing step it would be
(``assess/_evaluate.py``). Settings: ``NetworkConfig.EnableNetworkIsolation`` (default false:
the container can make outbound calls), ``NetworkConfig.VpcConfig`` (absent: the service's
network), ``ProcessingOutputConfig.KmsKeyId`` (when the job has outputs) and
``ProcessingResources.ClusterConfig.VolumeKmsKeyId`` (instance types with local NVMe storage
take none, as for training). Pipeline parameters and values unknown at plan time decide nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import lookup, norm
from mlstix.scan.rules.iac.aws_sagemaker import local_storage
from mlstix.scan.rules.iac.aws_training import arg_known, pipeline_steps
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC"]


def _isolation(ctx: Context) -> Iterator[Hit]:
    for r, step, args in pipeline_steps(ctx, "Processing"):
        value = lookup(args, "NetworkConfig.EnableNetworkIsolation")
        if not arg_known(value) or norm(value) is True:
            continue
        yield Hit(
            r,
            f"Processing step {step!r}: NetworkConfig.EnableNetworkIsolation is not true "
            "(default false): the processing container can make outbound calls",
            {"attribute": "NetworkConfig.EnableNetworkIsolation", "value": value, "step": step},
        )


def _vpc(ctx: Context) -> Iterator[Hit]:
    for r, step, args in pipeline_steps(ctx, "Processing"):
        subnets = lookup(args, "NetworkConfig.VpcConfig.Subnets")
        if not arg_known(subnets) or subnets:
            continue
        yield Hit(
            r,
            f"Processing step {step!r}: NetworkConfig.VpcConfig is not set: the job runs on "
            "the service's network",
            {"attribute": "NetworkConfig.VpcConfig.Subnets", "value": None, "step": step},
        )


def _missing_keys(args: Mapping[str, Any]) -> list[str] | None:
    """The key settings a processing job lacks (None: unknown)."""
    cluster = "ProcessingResources.ClusterConfig"
    values = {
        "outputs": lookup(args, "ProcessingOutputConfig.Outputs"),
        "output_key": lookup(args, "ProcessingOutputConfig.KmsKeyId"),
        "volume_key": lookup(args, f"{cluster}.VolumeKmsKeyId"),
        "instance": lookup(args, f"{cluster}.InstanceType"),
    }
    missing = []
    if values["outputs"] and not values["output_key"]:
        if not (arg_known(values["outputs"]) and arg_known(values["output_key"])):
            return None
        missing.append("ProcessingOutputConfig.KmsKeyId")
    if not values["volume_key"]:
        if not (arg_known(values["volume_key"]) and arg_known(values["instance"])):
            return None
        if not local_storage(values["instance"]):  # NVMe instance types take no volume key
            missing.append(f"{cluster}.VolumeKmsKeyId")
    return missing


def _kms(ctx: Context) -> Iterator[Hit]:
    for r, step, args in pipeline_steps(ctx, "Processing"):
        missing = _missing_keys(args)
        if not missing:
            continue
        yield Hit(
            r,
            f"Processing step {step!r}: {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set",
            {"attribute": missing[0], "value": None, "step": step},
        )


LOGIC: dict[str, Logic] = {
    "processing-network-isolation": _isolation,
    "processing-vpc": _vpc,
    "processing-kms": _kms,
}
