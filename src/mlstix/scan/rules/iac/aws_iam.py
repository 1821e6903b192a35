"""Python rules for AWS IAM: policies that grant all of SageMaker, all of S3 on model buckets,
or ``iam:PassRole`` on every role.

Policy sources: managed and inline policies (Terraform ``aws_iam_*policy``, ``aws_iam_role``
``inline_policy``; CloudFormation ``AWS::IAM::Policy``/``ManagedPolicy``/``RolePolicy``/
``UserPolicy``/``GroupPolicy`` and the ``Policies`` of roles, users and groups), read by
:mod:`._policy`. Action matching follows the IAM JSON policy reference (wildcards, ``NotAction``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import is_unknown
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import as_list, grants_all, matches_action, statements
from mlstix.scan.rules.iac._refs import refers_to
from mlstix.scan.rules.iac.aws import ML_NAME, model_buckets
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC"]


_POLICY_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "terraform": (
        ("aws_iam_policy", "policy"),
        ("aws_iam_role_policy", "policy"),
        ("aws_iam_user_policy", "policy"),
        ("aws_iam_group_policy", "policy"),
        ("aws_iam_role", "inline_policy"),
    ),
    "cloudformation": (
        ("AWS::IAM::Policy", "PolicyDocument"),
        ("AWS::IAM::ManagedPolicy", "PolicyDocument"),
        ("AWS::IAM::RolePolicy", "PolicyDocument"),
        ("AWS::IAM::UserPolicy", "PolicyDocument"),
        ("AWS::IAM::GroupPolicy", "PolicyDocument"),
        ("AWS::IAM::Role", "Policies"),
        ("AWS::IAM::User", "Policies"),
        ("AWS::IAM::Group", "Policies"),
        ("AWS::Serverless::Function", "Policies"),
        ("AWS::Serverless::StateMachine", "Policies"),
    ),
}
# attachments of AWS managed policies, judged by the managed policies' statements below
_MANAGED_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "terraform": (
        ("aws_iam_role_policy_attachment", "policy_arn"),
        ("aws_iam_user_policy_attachment", "policy_arn"),
        ("aws_iam_group_policy_attachment", "policy_arn"),
        ("aws_iam_policy_attachment", "policy_arn"),
        ("aws_iam_role", "managed_policy_arns"),
    ),
    "cloudformation": (
        ("AWS::IAM::Role", "ManagedPolicyArns"),
        ("AWS::IAM::User", "ManagedPolicyArns"),
        ("AWS::IAM::Group", "ManagedPolicyArns"),
    ),
}
_AWS_MANAGED_ARN = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")

# SAM ``Policies`` may name AWS managed policies; the statements that matter here, from the AWS
# Managed Policy Reference (AmazonSageMakerFullAccess v2x: sagemaker:* on all but Studio
# domain/user-profile/app/space and flow-definition resources; AmazonS3FullAccess: s3:* and
# s3-object-lambda:* on *; AdministratorAccess: * on *)
_MANAGED: dict[str, list[Mapping[str, Any]]] = {
    "amazonsagemakerfullaccess": [
        {
            "Effect": "Allow",
            "Action": ["sagemaker:*"],
            "NotResource": [
                "arn:aws:sagemaker:*:*:domain/*",
                "arn:aws:sagemaker:*:*:user-profile/*",
                "arn:aws:sagemaker:*:*:app/*",
                "arn:aws:sagemaker:*:*:space/*",
                "arn:aws:sagemaker:*:*:flow-definition/*",
            ],
        }
    ],
    "amazons3fullaccess": [
        {"Effect": "Allow", "Action": ["s3:*", "s3-object-lambda:*"], "Resource": "*"}
    ],
    "administratoraccess": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def _sam_policies(value: Any) -> tuple[list[Any], list[Mapping[str, Any]]]:
    """SAM ``Policies``: inline documents, and the statements of named managed policies."""
    docs: list[Any] = []
    managed: list[Mapping[str, Any]] = []
    for item in as_list(value):
        if isinstance(item, Mapping) and "Statement" in item:
            docs.append(item)
        elif isinstance(item, str) and not is_unknown(item):
            managed.extend(_MANAGED.get(item.rsplit("/", 1)[-1].lower(), []))
    return docs, managed


def _policies(ctx: Context) -> Iterator[tuple[Resource, list[Mapping[str, Any]]]]:
    for dialect, sources in _POLICY_SOURCES.items():
        for rtype, attr in sources:
            for r in ctx.of_type(dialect, rtype):
                value = r.attributes.get(attr)
                stmts: list[Mapping[str, Any]] = []
                if rtype.startswith("AWS::Serverless::"):
                    docs, stmts = _sam_policies(value)
                elif attr in ("inline_policy", "Policies"):
                    key = "policy" if attr == "inline_policy" else "PolicyDocument"
                    docs = [p.get(key) for p in as_list(value) if isinstance(p, Mapping)]
                else:
                    docs = [value]
                for doc in docs:
                    stmts.extend(statements(doc, ctx, r) or [])
                if stmts:
                    yield r, stmts
    for dialect, sources in _MANAGED_SOURCES.items():
        for rtype, attr in sources:
            for r in ctx.of_type(dialect, rtype):
                managed: list[Mapping[str, Any]] = []
                for arn in as_list(r.attributes.get(attr)):
                    m = _AWS_MANAGED_ARN.match(arn) if isinstance(arn, str) else None
                    if m and not is_unknown(arn):
                        managed.extend(_MANAGED.get(m.group(1).lower(), []))
                if managed:
                    yield r, managed


def _iam_sagemaker(ctx: Context) -> Iterator[Hit]:
    for r, stmts in _policies(ctx):
        if any(grants_all(st, "sagemaker") for st in stmts):
            yield Hit(
                r,
                "an Allow statement grants sagemaker:* (or *)",
                {"attribute": "Action", "value": "sagemaker:*"},
            )


_ANY_BUCKET = re.compile(r"^(\*|arn:aws:s3:::\*(/\*)?)$")


def _iam_s3(ctx: Context) -> Iterator[Hit]:
    by_scope: dict[str, list[Resource]] = {}
    for b in model_buckets(ctx):
        by_scope.setdefault(b.scope, []).append(b)
    for r, stmts in _policies(ctx):
        for st in stmts:
            if not grants_all(st, "s3"):
                continue
            targets = as_list(st.get("Resource"))
            hit = [t for t in targets if isinstance(t, str) and _ANY_BUCKET.match(t)]
            hit += [
                t
                for t in targets
                if isinstance(t, str)
                and not is_unknown(t)
                and t.startswith("arn:aws:s3:::")
                and ML_NAME.search(t[13:].split("/")[0])
            ]
            if not hit:
                hit = [str(b.address) for b in by_scope.get(r.scope, ()) if refers_to(targets, b)]
            if hit:
                yield Hit(
                    r,
                    f"an Allow statement grants s3:* on {hit[0]}",
                    {"attribute": "Resource", "value": str(hit[0])},
                )
                break


_ALL_ROLES = re.compile(r"^(\*|arn:aws:iam::[^:]*:(\*|role/\*))$")


def _iam_passrole(ctx: Context) -> Iterator[Hit]:
    for r, stmts in _policies(ctx):
        for st in stmts:
            if str(st.get("Effect", "Allow")).lower() != "allow":
                continue
            if not matches_action(st.get("Action"), "iam:PassRole"):
                continue
            if "iam:passedtoservice" in str(st.get("Condition") or "").lower():
                continue
            if any(isinstance(t, str) and _ALL_ROLES.match(t) for t in as_list(st.get("Resource"))):
                yield Hit(
                    r,
                    "an Allow statement grants iam:PassRole on every role",
                    {"attribute": "Resource", "value": "*"},
                )
                break


LOGIC: dict[str, Logic] = {
    "iam-sagemaker-wildcard": _iam_sagemaker,
    "iam-s3-wildcard": _iam_s3,
    "iam-passrole-wildcard": _iam_passrole,
}
