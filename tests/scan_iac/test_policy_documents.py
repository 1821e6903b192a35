"""``data.aws_iam_policy_document`` composed of other documents, as the AWS provider builds it:
``source_policy_documents`` first, the document's own statements replacing those with the same
``sid``, ``override_policy_documents`` last (replacing by ``sid``, others appended)."""

from __future__ import annotations

from pathlib import Path

from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import default_registry, evaluate

DOCS = """
variable "extra" { type = string }
data "aws_iam_policy_document" "wide" {
  statement {
    sid       = "SageMaker"
    actions   = ["sagemaker:*"]
    resources = ["*"]
  }
}
data "aws_iam_policy_document" "narrow" {
  statement {
    sid       = "SageMaker"
    actions   = ["sagemaker:DescribeEndpoint"]
    resources = ["*"]
  }
}
# the wide statement comes in through a source document
data "aws_iam_policy_document" "fail_source" {
  source_policy_documents = [data.aws_iam_policy_document.wide.json]
  statement {
    actions   = ["s3:GetObject"]
    resources = ["arn:aws:s3:::models/*"]
  }
}
# the document's own statement of the same sid replaces the source's
data "aws_iam_policy_document" "pass_own_replaces" {
  source_policy_documents = [data.aws_iam_policy_document.wide.json]
  statement {
    sid       = "SageMaker"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = ["*"]
  }
}
# an override of the same sid narrows it
data "aws_iam_policy_document" "pass_override_narrows" {
  source_policy_documents   = [data.aws_iam_policy_document.wide.json]
  override_policy_documents = [data.aws_iam_policy_document.narrow.json]
}
# an override of another sid adds to it
data "aws_iam_policy_document" "fail_override_adds" {
  statement {
    sid       = "Read"
    actions   = ["s3:GetObject"]
    resources = ["*"]
  }
  override_policy_documents = [data.aws_iam_policy_document.wide.json]
}
# an override that cannot be known could narrow anything: unknown
data "aws_iam_policy_document" "pass_unknown_override" {
  source_policy_documents   = [data.aws_iam_policy_document.wide.json]
  override_policy_documents = [var.extra]
}
# a source that cannot be known takes nothing away from the document's own statements
data "aws_iam_policy_document" "fail_unknown_source" {
  source_policy_documents = [var.extra]
  statement {
    actions   = ["sagemaker:*"]
    resources = ["*"]
  }
}
"""


def test_composed_documents(tmp_path: Path) -> None:
    names = [
        "fail_source",
        "pass_own_replaces",
        "pass_override_narrows",
        "fail_override_adds",
        "pass_unknown_override",
        "fail_unknown_source",
    ]
    policies = "".join(
        f'resource "aws_iam_policy" "{n}" {{\n  name   = "{n}"\n'
        f"  policy = data.aws_iam_policy_document.{n}.json\n}}\n"
        for n in names
    )
    (tmp_path / "main.tf").write_text(DOCS + policies)
    found = collect([tmp_path])
    assert not found.errors
    registry = default_registry()
    hits = evaluate(registry, [registry.get("MLSTIX-AWS-IAM-001")], found.resources, None)
    assert sorted(f.location.resource or "" for f in hits) == [
        f"aws_iam_policy.{n}" for n in sorted(names) if n.startswith("fail")
    ]
