"""``nullable = false``: a module argument (or a ``--var``) that is ``null`` takes the variable's
default, as Terraform does since 1.1; a nullable variable keeps the null."""

from __future__ import annotations

from pathlib import Path

from mlstix.scan.iac import collect
from mlstix.scan.iac._values import is_unknown

MODULE = """
variable "internet" {
  type     = bool
  default  = %s
  nullable = %s
}
resource "aws_sagemaker_notebook_instance" "this" {
  name                   = "nb"
  role_arn               = "r"
  instance_type          = "ml.t3.medium"
  direct_internet_access = var.internet ? "Enabled" : "Disabled"
}
"""

ROOT = """
module "given_null" {
  source   = "./mod"
  internet = null
}
module "given_false" {
  source   = "./mod"
  internet = false
}
module "left_out" {
  source = "./mod"
}
"""


def _values(tmp_path: Path, default: str, nullable: str) -> dict[str, object]:
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "main.tf").write_text(MODULE % (default, nullable))
    (tmp_path / "main.tf").write_text(ROOT)
    found = collect([tmp_path])
    assert not found.errors
    return {r.module: r.attributes.get("direct_internet_access") for r in found.resources}


def test_null_takes_the_default_of_a_non_nullable_variable(tmp_path: Path) -> None:
    assert _values(tmp_path, "true", "false") == {
        "module.given_null": "Enabled",
        "module.given_false": "Disabled",
        "module.left_out": "Enabled",
    }


def test_null_stays_null_in_a_nullable_variable(tmp_path: Path) -> None:
    values = _values(tmp_path, "true", "true")
    assert is_unknown(values["module.given_null"])  # Terraform refuses null in a condition
    assert values["module.given_false"] == "Disabled"
    assert values["module.left_out"] == "Enabled"
