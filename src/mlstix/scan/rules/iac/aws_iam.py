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
    ),
}


def _policies(ctx: Context) -> Iterator[tuple[Resource, list[Mapping[str, Any]]]]:
    for dialect, sources in _POLICY_SOURCES.items():
        for rtype, attr in sources:
            for r in ctx.of_type(dialect, rtype):
                value = r.attributes.get(attr)
                if attr in ("inline_policy", "Policies"):
                    key = "policy" if attr == "inline_policy" else "PolicyDocument"
                    docs = [p.get(key) for p in as_list(value) if isinstance(p, Mapping)]
                else:
                    docs = [value]
                stmts: list[Mapping[str, Any]] = []
                for doc in docs:
                    stmts.extend(statements(doc, ctx, r) or [])
                if stmts:
                    yield r, stmts


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
