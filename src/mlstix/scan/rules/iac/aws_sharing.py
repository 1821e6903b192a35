"""Resource policies that open ML data to everyone or to other accounts: model bucket policies
(MLSTIX-AWS-S3L-001) and the key policies of KMS keys that ML resources use (MLSTIX-AWS-KMS-001).

Judged on CloudFormation (``AWS::S3::BucketPolicy`` ``PolicyDocument``, ``AWS::KMS::Key``
``KeyPolicy``), Terraform (``aws_s3_bucket_policy``/inline ``policy``, ``aws_kms_key`` ``policy``
and ``aws_kms_key_policy``; JSON, ``jsonencode`` or a ``data.aws_iam_policy_document`` with its
``principals`` blocks) and, through ``mlstix assess aws``, the live policies (GetBucketPolicy,
GetKeyPolicy), whose JSON is the template's.

An ``Allow`` statement without a ``Condition`` whose principal is everyone (``"*"``,
``{"AWS": "*"}``) is reported; live, where the account is known, so is another account (its id or
an ARN in it). A template does not say which account deploys it, so a literal account id there
is not judged. Everyone in a bucket policy counts only where S3 would honour it: not while the
bucket's Block Public Access ``RestrictPublicBuckets`` is on, which a bucket created since April
2023 has unless a written configuration turns it off (S3 User Guide, "Blocking public access to
your Amazon S3 storage"), nor under an account-level ``aws_s3_account_public_access_block`` that
restricts. Keys "used by ML resources" are those a SageMaker resource or a bucket holding models
(or its encryption configuration) refers to, or whose name, description or tags say ML (as for
buckets); the live collector reads only keys that ML resources refer to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import Expr, is_unknown, norm
from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac._policy import as_list, statements
from mlstix.scan.rules.iac._refs import iter_strings, refers_to
from mlstix.scan.rules.iac.aws import ML_NAME, model_buckets
from mlstix.scan.rules.iac.context import Context, Hit, Logic

__all__ = ["LOGIC", "ml_keys"]

_DOC_REF = re.compile(r"^\$\{data\.aws_iam_policy_document\.([\w-]+)\.json\}$")
_ML_PREFIX = {"terraform": "aws_sagemaker_", "cloudformation": "AWS::SageMaker::"}


def _document_statements(value: Any, ctx: Context, owner: Resource) -> list[Mapping[str, Any]]:
    """Statements with their principals; a ``data.aws_iam_policy_document`` is read here for its
    ``principals`` blocks (``type`` ``*`` or ``AWS`` with identifiers). Unknown: none."""
    m = _DOC_REF.match(str(value)) if isinstance(value, Expr) else None
    if m is None:
        return statements(value, ctx, owner) or []
    out: list[Mapping[str, Any]] = []
    for doc in ctx.reads(owner.scope, "terraform", "aws_iam_policy_document"):
        if not (doc.name == m.group(1) and doc.module == owner.module):
            continue
        for st in as_list(doc.attributes.get("statement")):
            if not isinstance(st, Mapping):
                continue
            principal: dict[str, list[Any]] = {}
            for p in as_list(st.get("principals")):
                if isinstance(p, Mapping):
                    principal.setdefault(str(p.get("type")), []).extend(
                        as_list(p.get("identifiers"))
                    )
            out.append(
                {
                    "Effect": st.get("effect", "Allow"),
                    "Principal": principal,
                    "Condition": as_list(st.get("condition")),
                }
            )
    return out


def _outside(principal: Any, account: str | None) -> list[str]:
    """Principals outside the account: everyone, and (``account`` known) other accounts."""
    if is_unknown(principal):
        return []
    if principal == "*":
        return ["*"]
    out: list[str] = []
    if isinstance(principal, Mapping):
        for kind, values in principal.items():
            if kind not in ("AWS", "*"):
                continue  # Service, Federated, CanonicalUser: not an account principal
            for p in as_list(values):
                if is_unknown(p) or not isinstance(p, str):
                    continue
                text = str(p)
                other = bool(account) and (
                    (text.isdigit() and text != account)
                    or (text.startswith("arn:") and text.split(":")[4:5] != [account])
                )
                if text == "*" or other:
                    out.append(text)
    return out


def _open(doc: Any, ctx: Context, owner: Resource, account: str | None) -> list[str]:
    found: list[str] = []
    for st in _document_statements(doc, ctx, owner):
        if str(st.get("Effect", "Allow")).lower() != "allow" or st.get("Condition"):
            continue
        found += _outside(st.get("Principal"), account)
    return sorted(set(found))


def _account(r: Resource) -> str | None:
    """The owning account, known only for live resources."""
    return str(r.extra.get("account") or "") or None if r.extra.get("live") else None


def _restricts(value: Any) -> bool:
    """``RestrictPublicBuckets`` is on, or unknown (never report what cannot be shown)."""
    return is_unknown(value) or norm(value) is True


def _public_ignored(ctx: Context, bucket: Resource) -> bool:
    """S3 ignores public grants of the bucket's policy (RestrictPublicBuckets in effect)."""
    if bucket.extra.get("live"):
        pab = bucket.attributes.get("PublicAccessBlockConfiguration")  # the effective one
        return isinstance(pab, Mapping) and pab.get("RestrictPublicBuckets") is True
    if bucket.dialect == "cloudformation":
        pab = bucket.attributes.get("PublicAccessBlockConfiguration")
        return pab is None or is_unknown(pab) or _restricts(pab.get("RestrictPublicBuckets"))
    blocks = [
        r
        for r in ctx.in_scope(bucket.scope, "terraform", "aws_s3_bucket_public_access_block")
        if refers_to(r.attributes.get("bucket"), bucket)
    ]
    accounts = ctx.in_scope(bucket.scope, "terraform", "aws_s3_account_public_access_block")
    if any(_restricts(a.attributes.get("restrict_public_buckets")) for a in accounts):
        return True
    return not blocks or any(
        _restricts(b.attributes.get("restrict_public_buckets")) for b in blocks
    )


def _bucket_policies(ctx: Context, bucket: Resource) -> list[tuple[Resource, Any]]:
    if bucket.dialect == "cloudformation":
        return [
            (p, p.attributes.get("PolicyDocument"))
            for p in ctx.in_scope(bucket.scope, "cloudformation", "AWS::S3::BucketPolicy")
            if p.attributes.get("Bucket") == bucket.name
            or refers_to(p.attributes.get("Bucket"), bucket)
        ]
    out = [
        (p, p.attributes.get("policy"))
        for p in ctx.in_scope(bucket.scope, "terraform", "aws_s3_bucket_policy")
        if refers_to(p.attributes.get("bucket"), bucket)
    ]
    if bucket.attributes.get("policy") is not None:
        out.append((bucket, bucket.attributes.get("policy")))
    return out


def _bucket_shared(ctx: Context) -> Iterator[Hit]:
    for bucket in model_buckets(ctx):
        account = _account(bucket)
        outside: set[str] = set()
        for owner, doc in _bucket_policies(ctx, bucket):
            outside.update(_open(doc, ctx, owner, account))
        if "*" in outside and _public_ignored(ctx, bucket):
            outside.discard("*")  # S3 ignores public grants while RestrictPublicBuckets is on
        if outside:
            yield Hit(
                bucket,
                f"the bucket policy allows {', '.join(sorted(outside))} without a condition",
                {"attribute": "BucketPolicy", "value": sorted(outside)},
            )


def _ml_keys(ctx: Context) -> Iterator[tuple[Resource, list[tuple[Resource, Any]]]]:
    """KMS keys ML resources use, with their policies."""
    buckets = model_buckets(ctx)
    for key in ctx.of_type("cloudformation", "AWS::KMS::Key"):
        if key.extra.get("live") or _used_by_ml(ctx, key, buckets):
            yield key, [(key, key.attributes.get("KeyPolicy"))]
    for key in ctx.of_type("terraform", "aws_kms_key"):
        if not _used_by_ml(ctx, key, buckets):
            continue
        policies = [(key, key.attributes.get("policy"))]
        policies += [
            (p, p.attributes.get("policy"))
            for p in ctx.in_scope(key.scope, "terraform", "aws_kms_key_policy")
            if refers_to(p.attributes.get("key_id"), key)
        ]
        yield key, policies


def ml_keys(ctx: Context) -> list[Resource]:
    """The KMS keys ML resources use (as :func:`_ml_keys` finds them), once per scan."""
    if "aws-ml-keys" not in ctx.memo:
        ctx.memo["aws-ml-keys"] = [key for key, _ in _ml_keys(ctx)]
    found: list[Resource] = ctx.memo["aws-ml-keys"]
    return found


def _used_by_ml(ctx: Context, key: Resource, buckets: list[Resource]) -> bool:
    label = " ".join(
        str(x)
        for x in (key.name, key.attributes.get("description"), key.attributes.get("Description"))
        if x and not is_unknown(x)
    )
    if ML_NAME.search(label) or ML_NAME.search(_tags_text(key)):
        return True  # named or tagged for ML, as buckets are
    for r in ctx.resources:
        if r.scope != key.scope or r.dialect != key.dialect:
            continue
        if r.type.startswith(_ML_PREFIX[key.dialect]) and refers_to(r.attributes, key):
            return True
    for b in buckets:
        if b.scope == key.scope and refers_to(b.attributes, key):
            return True
        for sse in ctx.in_scope(
            b.scope, "terraform", "aws_s3_bucket_server_side_encryption_configuration"
        ):
            if refers_to(sse.attributes.get("bucket"), b) and refers_to(sse.attributes, key):
                return True
    return False


def _tags_text(r: Resource) -> str:
    tags = r.attributes.get("tags") or r.attributes.get("Tags") or {}
    return " ".join(str(s) for s in iter_strings(tags))


def _kms_open(ctx: Context) -> Iterator[Hit]:
    for key, policies in _ml_keys(ctx):
        account = _account(key)
        outside = sorted({p for owner, doc in policies for p in _open(doc, ctx, owner, account)})
        if outside:
            yield Hit(
                key,
                f"the key policy allows {', '.join(outside)} without a condition",
                {"attribute": "KeyPolicy", "value": outside},
            )


LOGIC: dict[str, Logic] = {
    "bucket-shared": _bucket_shared,
    "kms-open-policy": _kms_open,
}
