"""SageMaker notebook lifecycle configurations that run code fetched from the network
(MLSTIX-AWS-LC-001), judged on CloudFormation (``AWS::SageMaker::NotebookInstanceLifecycleConfig``
``OnCreate``/``OnStart`` ``Content``, usually ``!Base64``), Terraform
(``aws_sagemaker_notebook_instance_lifecycle_configuration`` ``on_create``/``on_start``, base64:
``base64encode(file(...))``, ``filebase64(...)``) and, through ``mlstix assess aws``, the live
configuration (DescribeNotebookInstanceLifecycleConfig returns the same base64 content).

A script that pipes a download into a shell, reads a download as a shell's input, or fetches
over plain HTTP from anywhere but the instance itself (the metadata service, loopback) is
reported: lifecycle scripts run as root even when the notebook's ``RootAccess`` is ``Disabled``
(SageMaker Developer Guide, "Customization of a SageMaker notebook instance using an LCC
script"). Content that is unknown at plan time, or not base64 of text, is not judged.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown
from mlstix.scan.rules.iac._policy import as_list
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC"]

# a download piped into a shell, a shell reading a download, or a fetch over plain HTTP from
# anywhere but the instance itself (the metadata service, loopback: lifecycle scripts read them)
_FETCH_RUN = re.compile(
    r"(?i)\b(curl|wget)\b[^\n|;&]*\|\s*(sudo\s+(-\S+\s+)*)?(ba|da|z|k)?sh\b"
    r"|\b(ba|z)?sh\s+<\(\s*(curl|wget)\b"
    r"|\b(curl|wget)\b[^\n]*\bhttp://(?!(169\.254\.|127\.|localhost\b|\[fd00:ec2::254\]))"
)
_PHASES = {"cloudformation": ("OnCreate", "OnStart"), "terraform": ("on_create", "on_start")}
_TYPES = {
    "cloudformation": "AWS::SageMaker::NotebookInstanceLifecycleConfig",
    "terraform": "aws_sagemaker_notebook_instance_lifecycle_configuration",
}


def _script(content: Any) -> str | None:
    if not isinstance(content, str) or is_unknown(content):
        return None
    try:
        return base64.b64decode(content, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def _contents(dialect: str, value: Any) -> Iterator[Any]:
    if dialect == "terraform":
        yield value
        return
    for hook in as_list(value):  # CloudFormation: a list of {Content: base64}
        yield hook.get("Content") if isinstance(hook, Mapping) else None


def _lifecycle_fetch(ctx: Context) -> Iterator[Hit]:
    for dialect, rtype in _TYPES.items():
        for cfg in ctx.of_type(dialect, rtype):
            for phase in _PHASES[dialect]:
                for content in _contents(dialect, cfg.attributes.get(phase)):
                    script = _script(content)
                    m = _FETCH_RUN.search(script) if script is not None else None
                    if script is None or m is None:
                        continue
                    line = script[script.rfind("\n", 0, m.start()) + 1 :].split("\n", 1)[0]
                    creates = phase.lower().replace("_", "") == "oncreate"
                    yield Hit(
                        cfg,
                        f"the {phase} script runs code fetched from the network, as root, each "
                        f"time the notebook {'is created' if creates else 'starts'}: "
                        f"{line.strip()[:160]}",
                        {"attribute": f"{phase}.Content", "value": line.strip()[:160]},
                    )
                    break


LOGIC: dict[str, Logic] = {"lifecycle-fetch-and-run": _lifecycle_fetch}
