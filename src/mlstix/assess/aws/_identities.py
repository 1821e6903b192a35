"""IAM users and groups, with their inline and attached policies, as CloudFormation
``AWS::IAM::User``/``AWS::IAM::Group`` resources, so the IAM rules that judge identity policies
(every SageMaker action, every S3 action on model buckets, ``iam:PassRole`` on every role) see the
people and groups who can change models, not only the execution roles of ML resources.

One paginated ``GetAccountAuthorizationDetails`` per kind (``Filter`` ``User``, ``Group``) reads
every user or group with its inline policies (``UserPolicyList``/``GroupPolicyList``, documents
decoded by botocore) and attached managed policies (``AttachedManagedPolicies``), instead of three
calls per identity (IAM API reference). The documents of attached managed policies are read with
``GetPolicy`` + ``GetPolicyVersion`` (default version), shared with the roles through one cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlstix.assess.aws._client import AwsAccess
from mlstix.assess.aws._dependencies import managed_document

__all__ = ["collect_identities"]

# kind -> (Filter value, list key, inline policy list key, name key, CloudFormation type)
_KINDS = (
    ("User", "UserDetailList", "UserPolicyList", "UserName", "AWS::IAM::User"),
    ("Group", "GroupDetailList", "GroupPolicyList", "GroupName", "AWS::IAM::Group"),
)


def collect_identities(access: AwsAccess, cache: dict[str, Any]) -> None:
    for kind, key, inline_key, name_key, rtype in _KINDS:
        for item in access.pages(
            "iam", access.home_region, "GetAccountAuthorizationDetails", key, Filter=[kind]
        ):
            if not isinstance(item, Mapping) or not item.get(name_key):
                continue
            inline = [
                {"PolicyName": p.get("PolicyName"), "PolicyDocument": p.get("PolicyDocument")}
                for p in item.get(inline_key) or []
                if isinstance(p, Mapping)
            ]
            attached = []
            for ap in item.get("AttachedManagedPolicies") or []:
                arn = str(ap.get("PolicyArn") or "")
                if not arn:
                    continue
                if arn not in cache:
                    cache[arn] = managed_document(access, arn)
                name, document = ap.get("PolicyName"), cache[arn]
                attached.append({"PolicyArn": arn, "PolicyName": name, "PolicyDocument": document})
            attrs: dict[str, Any] = {
                name_key: item[name_key],
                "Path": item.get("Path"),
                "Policies": inline,
                "ManagedPolicyArns": [a["PolicyArn"] for a in attached],
                "AttachedPolicies": attached,
            }
            if kind == "User":
                attrs["Groups"] = list(item.get("GroupList") or [])
                attrs["PermissionsBoundary"] = item.get("PermissionsBoundary")
            arn = str(item.get("Arn") or "")
            access.add_resource(rtype, str(item[name_key]), arn, "", attrs, "")
