"""SageMaker endpoint data capture (MLSTIX-AWS-DC-001, MLSTIX-AWS-DC-002), judged on
CloudFormation (``AWS::SageMaker::EndpointConfig`` ``DataCaptureConfig``), Terraform
(``aws_sagemaker_endpoint_configuration`` ``data_capture_config``) and, through
``mlstix assess aws``, the live configuration (DescribeEndpointConfig has the CloudFormation
shape).

CloudTrail does not log ``InvokeEndpoint``: data capture is the record of what an endpoint was
asked and answered. ``EnableCapture`` defaults to enabled in the API and CloudFormation
(CreateEndpointConfig, DataCaptureConfig), but the Terraform AWS provider sends the block's
``enable_capture`` as given, false when omitted (``expandDataCaptureConfig``): a
``data_capture_config`` block without ``enable_capture = true`` captures nothing. Captured
payloads are encrypted with the account's AWS managed S3 key unless ``KmsKeyId`` /
``kms_key_id`` names a customer-managed key. Configurations whose every variant is serverless
are left out: Serverless Inference supports no data capture. Values unknown at plan time decide
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC"]

# dialect -> (type, variants, serverless key, capture block, enable, kms, destination)
_SHAPES = {
    "cloudformation": (
        "AWS::SageMaker::EndpointConfig",
        "ProductionVariants",
        "ServerlessConfig",
        "DataCaptureConfig",
        "EnableCapture",
        "KmsKeyId",
        "DestinationS3Uri",
    ),
    "terraform": (
        "aws_sagemaker_endpoint_configuration",
        "production_variants",
        "serverless_config",
        "data_capture_config",
        "enable_capture",
        "kms_key_id",
        "destination_s3_uri",
    ),
}


def _serverless(config: Resource, variants_key: str, serverless_key: str) -> bool:
    variants = [v for v in as_list(config.attributes.get(variants_key)) if v]
    return bool(variants) and all(
        isinstance(v, Mapping) and v.get(serverless_key) for v in variants
    )


def _configs(ctx: Context) -> Iterator[tuple[Resource, Any, str, Any, str, str]]:
    """(config, capture block or None, its attribute, capture enabled (True/False/unknown),
    kms attribute, destination attribute) for every endpoint configuration that can capture."""
    for dialect, (rtype, variants, serverless, block, enable, kms, dest) in _SHAPES.items():
        for c in ctx.of_type(dialect, rtype):
            if _serverless(c, variants, serverless):
                continue
            dcc = c.attributes.get(block)
            if dialect == "terraform":
                dcc = dcc[0] if isinstance(dcc, list) and dcc else dcc
            if is_unknown(dcc):
                continue
            if not isinstance(dcc, Mapping) or not dcc:
                yield c, None, block, False, kms, dest
                continue
            value = dcc.get(enable)
            if is_unknown(value):
                enabled: Any = value
            elif value is None:
                enabled = dialect == "cloudformation"  # the API default; Terraform sends false
            else:
                enabled = norm(value) is True
            yield c, dcc, block, enabled, kms, dest


def _data_capture(ctx: Context) -> Iterator[Hit]:
    for c, dcc, block, enabled, _kms, _dest in _configs(ctx):
        if enabled is not False:
            continue
        if dcc is None:
            yield Hit(c, f"no {block}", {"attribute": block, "value": None})
            continue
        enable = "EnableCapture" if c.dialect == "cloudformation" else "enable_capture"
        shown = (
            "is false"
            if dcc.get(enable) is not None
            else "is not set (the Terraform AWS provider then sends false)"
        )
        yield Hit(
            c,
            f"{block}.{enable} {shown}: nothing is captured",
            {"attribute": f"{block}.{enable}", "value": dcc.get(enable) or False},
        )


def _data_capture_kms(ctx: Context) -> Iterator[Hit]:
    for c, dcc, block, enabled, kms, dest in _configs(ctx):
        if dcc is None or enabled is not True:
            continue
        key = dcc.get(kms)
        if is_unknown(key) or key:
            continue
        where = dcc.get(dest)
        shown = where if isinstance(where, str) and not is_unknown(where) else "S3"
        yield Hit(
            c,
            f"captures requests and responses to {shown} without {block}.{kms}: they are not "
            "encrypted with a customer-managed key whose key policy limits who can read them",
            {"attribute": f"{block}.{kms}", "value": None},
        )


LOGIC: dict[str, Logic] = {
    "endpoint-data-capture": _data_capture,
    "endpoint-data-capture-kms": _data_capture_kms,
}
