"""Python rules for SageMaker resources that a row cannot judge: encryption of the storage volume
of endpoint configurations and training jobs, which instance types with local NVMe storage
cannot take.

CreateEndpointConfig ``KmsKeyId`` (SageMaker API reference): "Certain Nitro-based instances
include local storage... You can't request a KmsKeyId when using an instance type with local
storage. If any of the models that you specify in the ProductionVariants parameter use
nitro-based instances with local storage, do not specify a value for the KmsKeyId parameter";
the same holds for ``ResourceConfig.VolumeKmsKeyId`` of training jobs. Local instance storage is
encrypted by a hardware module on the instance, so asking for a key there is a false positive.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC", "local_storage"]

# EC2 families with NVMe instance store that SageMaker offers: the "d" attribute (m5d, c6id,
# g4dn, p3dn, r7gd...) and the GPU/accelerator families whose storage is always local
_LOCAL = re.compile(
    r"(?i)^ml\.(?:[a-z]+\d+[a-z]*d[a-z]*|g5|g6|g6e|gr6|p4de|p5|p5e|p5en|p6-b200|trn1|trn1n|trn2)\."
)


def local_storage(instance_type: Any) -> bool:
    """The instance type has local NVMe storage (or is not known: never guessed)."""
    if is_unknown(instance_type):
        return True
    return isinstance(instance_type, str) and _LOCAL.match(instance_type) is not None


_ENDPOINT_CONFIGS = {
    "terraform": (
        "aws_sagemaker_endpoint_configuration",
        "kms_key_arn",
        "production_variants",
        "instance_type",
    ),
    "cloudformation": (
        "AWS::SageMaker::EndpointConfig",
        "KmsKeyId",
        "ProductionVariants",
        "InstanceType",
    ),
}


def _endpoint_kms(ctx: Context) -> Iterator[Hit]:
    for dialect, (rtype, key_attr, variants_attr, type_attr) in _ENDPOINT_CONFIGS.items():
        for r in ctx.of_type(dialect, rtype):
            key = r.attributes.get(key_attr)
            if key not in (None, "") or is_unknown(key):
                continue
            variants = r.attributes.get(variants_attr)
            if is_unknown(variants):
                continue
            rows = [v for v in as_list(variants) if isinstance(v, Mapping)]
            types = [v.get(type_attr) for v in rows]
            if any(local_storage(t) for t in types if t is not None):
                continue  # KmsKeyId cannot be requested; local storage is hardware-encrypted
            serverless = ("serverless_config", "ServerlessConfig")
            if rows and all(any(v.get(k) for k in serverless) for v in rows):
                continue  # serverless variants only: no storage volume to encrypt
            yield Hit(
                r,
                f"{key_attr} is not set and no production variant runs on an instance type "
                "with local NVMe storage (whose storage is hardware-encrypted)",
                {"attribute": key_attr, "value": None, "instance_types": [str(t) for t in types]},
            )


LOGIC: dict[str, Logic] = {"sagemaker-endpoint-kms": _endpoint_kms}
