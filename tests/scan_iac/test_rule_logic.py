"""Helpers of Python rules whose every case is not worth a fixture resource."""

from __future__ import annotations

import pytest

from mlstix.scan.iac._values import Expr
from mlstix.scan.rules.iac.aws_sagemaker import local_storage
from mlstix.scan.rules.iac.gcp import default_compute_sa


@pytest.mark.parametrize(
    ("instance_type", "local"),
    [
        ("ml.g5.xlarge", True),
        ("ml.g6e.12xlarge", True),
        ("ml.p4d.24xlarge", True),
        ("ml.p5.48xlarge", True),
        ("ml.m5d.large", True),
        ("ml.c5d.2xlarge", True),
        ("ml.r5d.xlarge", True),
        ("ml.g4dn.xlarge", True),
        ("ml.p3dn.24xlarge", True),
        ("ml.trn1.32xlarge", True),
        ("ml.m5.large", False),
        ("ml.c5.xlarge", False),
        ("ml.p3.2xlarge", False),
        ("ml.inf2.xlarge", False),
        ("ml.t3.medium", False),
        ("ml.g4ad.xlarge", True),
        (Expr("${var.instance_type}"), True),  # unknown: never asked for a key
    ],
)
def test_local_nvme_instance_types(instance_type: str, local: bool) -> None:
    assert local_storage(instance_type) is local


@pytest.mark.parametrize(
    ("value", "default"),
    [
        (None, True),
        ("123456789012-compute@developer.gserviceaccount.com", True),
        ("123456789012-COMPUTE@developer.gserviceaccount.com", True),
        (Expr("${data.google_project.p.number}-compute@developer.gserviceaccount.com"), True),
        (Expr("${data.google_compute_default_service_account.default.email}"), True),
        ("default", True),
        ("notebooks@acme-ml.iam.gserviceaccount.com", False),
        ("123456789012@cloudservices.gserviceaccount.com", False),
        (Expr("${google_service_account.nb.email}"), None),
    ],
)
def test_default_compute_service_account_forms(value: object, default: bool | None) -> None:
    assert default_compute_sa(value) is default
