"""Python rules for SageMaker training jobs, as IaC declares them: the Training steps of SageMaker
Pipelines (Terraform ``aws_sagemaker_pipeline.pipeline_definition``, CloudFormation
``AWS::SageMaker::Pipeline`` ``PipelineDefinition.PipelineDefinitionBody``), Condition steps
included. Step arguments follow the CreateTrainingJob API; pipeline parameters
(``{"Get": "Parameters.X"}``) are decided at run time and not reported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown, lookup, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import as_list, decode_json_value
from mlstix.scan.rules.iac.aws_sagemaker import local_storage
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC", "arg_known", "pipeline_steps"]


def _steps(steps: Any, kind: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for step in as_list(steps):
        if not isinstance(step, Mapping):
            continue
        args = step.get("Arguments")
        if step.get("Type") == kind and isinstance(args, Mapping):
            yield str(step.get("Name", "?")), args
        elif step.get("Type") == "Condition" and isinstance(args, Mapping):
            yield from _steps(args.get("IfSteps"), kind)
            yield from _steps(args.get("ElseSteps"), kind)


def pipeline_steps(
    ctx: Context, kind: str = "Training"
) -> Iterator[tuple[Resource, str, Mapping[str, Any]]]:
    """(pipeline, step name, step arguments) of every step of ``kind`` (``Training``,
    ``Processing``: their arguments are the CreateTrainingJob / CreateProcessingJob request),
    Condition steps' branches included."""
    for r in ctx.of_type("terraform", "aws_sagemaker_pipeline"):
        definition = decode_json_value(r.attributes.get("pipeline_definition"))
        if isinstance(definition, Mapping):
            for name, args in _steps(definition.get("Steps"), kind):
                yield r, name, args
    for r in ctx.of_type("cloudformation", "AWS::SageMaker::Pipeline"):
        body = lookup(r.attributes, "PipelineDefinition.PipelineDefinitionBody")
        definition = decode_json_value(body)
        if isinstance(definition, Mapping):
            for name, args in _steps(definition.get("Steps"), kind):
                yield r, name, args


def arg_known(value: Any) -> bool:
    """Pipeline parameters (``{"Get": "Parameters.X"}``) are decided at run time; values the
    configuration leaves unknown are not known either."""
    return not is_unknown(value) and _arg_known(value)


def _arg_known(value: Any) -> bool:
    """Pipeline parameters (``{"Get": "Parameters.X"}``) are decided at run time."""
    return not (isinstance(value, Mapping) and ("Get" in value or "Std:Join" in value))


def _training_check(attr: str, kind: str) -> Logic:
    def logic(ctx: Context) -> Iterator[Hit]:
        for r, step, args in pipeline_steps(ctx):
            bad: list[str] = []
            for path in attr.split("+"):
                value = lookup(args, path)
                if not _arg_known(value) or is_unknown(value):
                    continue
                if path == "ResourceConfig.VolumeKmsKeyId" and local_storage(
                    lookup(args, "ResourceConfig.InstanceType")
                ):
                    continue  # local NVMe storage cannot take a VolumeKmsKeyId
                missing = value in (None, "", [])
                if (kind == "true" and norm(value) is not True) or (kind == "set" and missing):
                    bad.append(path)
            if bad:
                yield Hit(
                    r,
                    f"Training step {step!r}: {', '.join(bad)} "
                    f"{'is not true (default false)' if kind == 'true' else 'is not set'}",
                    {"attribute": bad[0], "value": None, "step": step},
                )

    return logic


LOGIC: dict[str, Logic] = {
    "training-network-isolation": (_training_check("EnableNetworkIsolation", "true")),
    "training-inter-container-encryption": (
        _training_check("EnableInterContainerTrafficEncryption", "true")
    ),
    "training-vpc": (_training_check("VpcConfig.Subnets", "set")),
    "training-kms": (
        _training_check("OutputDataConfig.KmsKeyId+ResourceConfig.VolumeKmsKeyId", "set")
    ),
}
