"""Logic of the AWS live-only rules (metadata in ``assess/rules/aws.yaml``).

- ``trail-sagemaker-management``: a region where no logging trail records SageMaker management
  events. A trail covers a region when it is multi-region or lives there; basic event selectors
  record management events unless ``IncludeManagementEvents`` is false or ``ReadWriteType`` is
  ``ReadOnly``; advanced selectors need ``eventCategory = Management`` without a ``readOnly =
  true`` filter or an ``eventSource`` filter that leaves out ``sagemaker.amazonaws.com``
  (CloudTrail User Guide, "Logging management events").
- ``trail-model-bucket-data-events``: a model bucket whose object reads and writes no trail records
  (``AWS::S3::Object`` data resources ``arn:aws:s3`` / ``arn:aws:s3:::bucket/...``, or advanced
  selectors on ``resources.type = AWS::S3::Object`` with no ``resources.ARN`` filter or one that
  starts with the bucket's ARN).
- ``guardduty-enabled``: a region with no enabled GuardDuty detector.
- ``endpoint-unapproved-package``: an endpoint serving a model package whose
  ``ModelApprovalStatus`` is not ``Approved``.
- ``registry-shared``: a model package group policy that lets principals outside the account
  write (anything but Describe/List/Get...), or read without an organisation condition.
- ``bucket-shared``: a model bucket whose policy allows ``*`` (unless the effective public access
  block has ``RestrictPublicBuckets``) or another account without a condition.
- ``kms-open-policy``: a customer-managed key used by ML resources whose key policy allows ``*``
  or another account without a condition.
- ``endpoint-data-capture``: an endpoint configuration that captures no inference data
  (``DataCaptureConfig`` absent, or ``EnableCapture`` false; CloudTrail does not log
  ``InvokeEndpoint``, so data capture is the record of what an endpoint answered). Serverless
  configurations are left out: Serverless Inference supports no data capture.
- ``endpoint-data-capture-kms``: an endpoint configuration that captures inference data without
  ``DataCaptureConfig.KmsKeyId`` (the captured payloads are then encrypted with the account's
  AWS managed S3 key; CreateEndpointConfig, DataCaptureConfig.KmsKeyId).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac.resource import Resource
from mlstix.scan.rules.iac import Context, Hit, RuleRegistry

__all__ = ["register"]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _logging(ctx: Context) -> list[Resource]:
    return [
        t
        for t in ctx.of_type("cloudformation", "AWS::CloudTrail::Trail")
        if t.attributes.get("IsLogging") is True
    ]


def _covers_region(trail: Resource, region: str) -> bool:
    return bool(trail.attributes.get("IsMultiRegionTrail")) or trail.extra.get("region") == region


def _fields(selector: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        str(f.get("Field")): f
        for f in _as_list(selector.get("FieldSelectors"))
        if isinstance(f, Mapping)
    }


def _management(trail: Resource) -> bool:
    for sel in _as_list(trail.attributes.get("EventSelectors")):
        if not isinstance(sel, Mapping):
            continue
        if sel.get("IncludeManagementEvents", True) and sel.get("ReadWriteType", "All") in (
            "All",
            "WriteOnly",
        ):
            return True
    for sel in _as_list(trail.attributes.get("AdvancedEventSelectors")):
        if not isinstance(sel, Mapping):
            continue
        f = _fields(sel)
        if "Management" not in _as_list((f.get("eventCategory") or {}).get("Equals")):
            continue
        if "true" in _as_list((f.get("readOnly") or {}).get("Equals")):
            continue
        if not _admits(f.get("eventSource") or {}, "sagemaker.amazonaws.com"):
            continue
        return True
    return False


def _admits(field: Mapping[str, Any], value: str) -> bool:
    """An advanced event selector's field selector lets ``value`` through: one of its positive
    operators matches (when it has any) and none of its negative ones does."""
    eq, starts, ends = (
        [str(v) for v in _as_list(field.get(op))] for op in ("Equals", "StartsWith", "EndsWith")
    )
    if (eq or starts or ends) and not (
        value in eq or value.startswith(tuple(starts)) or value.endswith(tuple(ends))
    ):
        return False
    return not (
        value in [str(v) for v in _as_list(field.get("NotEquals"))]
        or value.startswith(tuple(str(v) for v in _as_list(field.get("NotStartsWith"))))
        or value.endswith(tuple(str(v) for v in _as_list(field.get("NotEndsWith"))))
    )


def _trail_management(ctx: Context) -> Iterator[Hit]:
    trails = [t for t in _logging(ctx) if _management(t)]
    for region in ctx.of_type("cloudformation", "MLSTIX::AWS::Region"):
        if region.attributes.get("Enabled") is False:
            continue
        if not any(_covers_region(t, region.name) for t in trails):
            yield Hit(
                region,
                f"no logging CloudTrail trail records SageMaker management events in {region.name}",
                {"trails_logging": [t.name for t in _logging(ctx)]},
            )


def _data_covers(trail: Resource, bucket_arn: str) -> bool:
    partition_all = bucket_arn.split(":::")[0]  # arn:aws:s3
    for sel in _as_list(trail.attributes.get("EventSelectors")):
        if not isinstance(sel, Mapping) or sel.get("ReadWriteType", "All") == "None":
            continue
        for dr in _as_list(sel.get("DataResources")):
            if not isinstance(dr, Mapping) or dr.get("Type") != "AWS::S3::Object":
                continue
            for v in _as_list(dr.get("Values")):
                if v in (partition_all, f"{partition_all}:::") or str(v).startswith(
                    f"{bucket_arn}/"
                ):
                    return True
    for sel in _as_list(trail.attributes.get("AdvancedEventSelectors")):
        if not isinstance(sel, Mapping):
            continue
        f = _fields(sel)
        if "Data" not in _as_list((f.get("eventCategory") or {}).get("Equals")):
            continue
        if "AWS::S3::Object" not in _as_list((f.get("resources.type") or {}).get("Equals")):
            continue
        arn = f.get("resources.ARN")
        if arn is None or _arn_may_match(arn, bucket_arn):
            return True
    return False


def _arn_may_match(field: Mapping[str, Any], bucket_arn: str) -> bool:
    """Some object of the bucket (``arn:aws:s3:::bucket/<key>``) passes an advanced field
    selector on ``resources.ARN``: positive operators are ORed, negative ones ANDed (CloudTrail
    User Guide, advanced event selectors). A prefix inside the bucket counts: the models under it
    are recorded."""
    prefix = f"{bucket_arn}/"
    equals = [str(v) for v in _as_list(field.get("Equals"))]
    starts = [str(v) for v in _as_list(field.get("StartsWith"))]
    ends = _as_list(field.get("EndsWith"))
    if equals or starts or ends:
        hit = any(v.startswith(prefix) for v in equals) or bool(ends)
        hit = hit or any(prefix.startswith(v) or v.startswith(prefix) for v in starts)
        if not hit:
            return False
    return not any(prefix.startswith(str(v)) for v in _as_list(field.get("NotStartsWith")))


def _trail_data(ctx: Context) -> Iterator[Hit]:
    from mlstix.scan.rules.iac.aws import model_buckets

    trails = _logging(ctx)
    for bucket in model_buckets(ctx):
        if not bucket.extra.get("live"):
            continue
        region = str(bucket.extra.get("region", ""))
        if not any(_covers_region(t, region) and _data_covers(t, bucket.file) for t in trails):
            yield Hit(
                bucket,
                "no logging CloudTrail trail records S3 data events (object reads and writes) "
                "for this model bucket",
                {"attribute": "EventSelectors.DataResources", "value": None},
            )


def _guardduty(ctx: Context) -> Iterator[Hit]:
    enabled = {
        d.extra.get("region")
        for d in ctx.of_type("cloudformation", "AWS::GuardDuty::Detector")
        if d.attributes.get("Enable") is True
    }
    for region in ctx.of_type("cloudformation", "MLSTIX::AWS::Region"):
        if region.attributes.get("Enabled") is not False and region.name not in enabled:
            yield Hit(region, f"GuardDuty has no enabled detector in {region.name}", {})


def _by_name(ctx: Context, rtype: str) -> dict[tuple[str, str], Resource]:
    return {(str(r.extra.get("region")), r.name): r for r in ctx.of_type("cloudformation", rtype)}


def _containers(model: Resource) -> list[Mapping[str, Any]]:
    out = [model.attributes.get("PrimaryContainer")]
    out += _as_list(model.attributes.get("Containers"))
    return [c for c in out if isinstance(c, Mapping)]


def _unapproved(ctx: Context) -> Iterator[Hit]:
    configs = _by_name(ctx, "AWS::SageMaker::EndpointConfig")
    models = _by_name(ctx, "AWS::SageMaker::Model")
    packages = {r.file: r for r in ctx.of_type("cloudformation", "AWS::SageMaker::ModelPackage")}
    for ep in ctx.of_type("cloudformation", "AWS::SageMaker::Endpoint"):
        region = str(ep.extra.get("region"))
        config = configs.get((region, str(ep.attributes.get("EndpointConfigName"))))
        if config is None:
            continue
        for variant in _as_list(config.attributes.get("ProductionVariants")):
            model = models.get((region, str((variant or {}).get("ModelName"))))
            if model is None:
                continue
            for c in _containers(model):
                pkg = packages.get(str(c.get("ModelPackageName")))
                status = pkg.attributes.get("ModelApprovalStatus") if pkg else None
                if pkg is not None and status != "Approved":
                    yield Hit(
                        ep,
                        f"serves model {model.name} from model package {pkg.name}, whose "
                        f"ModelApprovalStatus is {status}",
                        {
                            "attribute": "ModelApprovalStatus",
                            "value": status,
                            "model_package": pkg.file,
                        },
                    )


def _outside(principal: Any, account: str) -> list[str]:
    out: list[str] = []
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        for p in _as_list(principal.get("AWS")):
            text = str(p)
            other = text.isdigit() and text != account
            foreign_arn = text.startswith("arn:") and text.split(":")[4:5] != [account]
            if text == "*" or other or foreign_arn:
                out.append(text)
    return out


def _open_statements(doc: Any, account: str, *, conditions_limit: bool) -> list[str]:
    if not isinstance(doc, Mapping):
        return []
    found: list[str] = []
    for st in _as_list(doc.get("Statement")):
        if not isinstance(st, Mapping) or str(st.get("Effect", "")).lower() != "allow":
            continue
        if conditions_limit and st.get("Condition"):
            continue
        found += _outside(st.get("Principal"), account)
    return found


_READ_VERBS = ("Describe", "List", "Get", "BatchDescribe", "BatchGet", "Search")


def _writes(actions: Any) -> list[str]:
    """The actions of a statement that are not reads (``sagemaker:*`` and ``*`` included)."""
    out = []
    for action in _as_list(actions):
        verb = str(action).split(":", 1)[-1]
        if not verb.startswith(_READ_VERBS):
            out.append(str(action))
    return out


_ORG_KEYS = ("aws:principalorgid", "aws:principalorgpaths")


def _org_limited(condition: Any) -> bool:
    """The condition admits only principals of an AWS Organization."""
    if not isinstance(condition, Mapping):
        return False
    return any(
        isinstance(keys, Mapping) and any(str(k).lower() in _ORG_KEYS for k in keys)
        for keys in condition.values()
    )


def _registry_shared(ctx: Context) -> Iterator[Hit]:
    """A model package group policy that lets principals outside the account change the
    registry, or read it without an ``aws:PrincipalOrgID``/``aws:PrincipalOrgPaths`` condition
    (the control allows sharing inside the organisation only; which accounts belong to it the
    SageMaker APIs do not say)."""
    for g in ctx.of_type("cloudformation", "AWS::SageMaker::ModelPackageGroup"):
        account = str(g.extra.get("account", ""))
        doc = g.attributes.get("ModelPackageGroupPolicy")
        found: set[str] = set()
        for st in _as_list(doc.get("Statement") if isinstance(doc, Mapping) else None):
            if not isinstance(st, Mapping) or str(st.get("Effect", "")).lower() != "allow":
                continue
            writes = _writes(st.get("Action"))
            for principal in _outside(st.get("Principal"), account):
                if writes:
                    found.add(f"{principal} to {', '.join(writes)}")
                elif not _org_limited(st.get("Condition")):
                    found.add(f"{principal} (read, no aws:PrincipalOrgID condition)")
        if found:
            yield Hit(
                g,
                f"the model package group policy allows {'; '.join(sorted(found))}",
                {"attribute": "ModelPackageGroupPolicy", "value": sorted(found)},
            )


def _bucket_shared(ctx: Context) -> Iterator[Hit]:
    from mlstix.scan.rules.iac.aws import model_buckets

    policies = {
        str(p.attributes.get("Bucket")): p.attributes.get("PolicyDocument")
        for p in ctx.of_type("cloudformation", "AWS::S3::BucketPolicy")
        if p.extra.get("live")
    }
    for bucket in model_buckets(ctx):
        if not bucket.extra.get("live") or bucket.name not in policies:
            continue
        account = str(bucket.extra.get("account", ""))
        outside = set(_open_statements(policies[bucket.name], account, conditions_limit=True))
        pab = bucket.attributes.get("PublicAccessBlockConfiguration")
        if isinstance(pab, Mapping) and pab.get("RestrictPublicBuckets") is True:
            outside.discard("*")  # S3 ignores public grants while RestrictPublicBuckets is on
        if outside:
            yield Hit(
                bucket,
                f"the bucket policy allows {', '.join(sorted(outside))} without a condition",
                {"attribute": "BucketPolicy", "value": sorted(outside)},
            )


def _kms_open(ctx: Context) -> Iterator[Hit]:
    for k in ctx.of_type("cloudformation", "AWS::KMS::Key"):
        if not k.extra.get("live"):
            continue
        account = str(k.extra.get("account", ""))
        outside = _open_statements(k.attributes.get("KeyPolicy"), account, conditions_limit=True)
        if outside:
            yield Hit(
                k,
                f"the key policy allows {', '.join(sorted(set(outside)))} without a condition",
                {"attribute": "KeyPolicy", "value": sorted(set(outside))},
            )


def _serverless(config: Resource) -> bool:
    """Every variant is serverless: Serverless Inference supports no data capture (SageMaker
    Developer Guide, Serverless Inference, feature exclusions)."""
    variants = [v for v in _as_list(config.attributes.get("ProductionVariants")) if v]
    return bool(variants) and all(
        isinstance(v, Mapping) and v.get("ServerlessConfig") for v in variants
    )


def _data_capture(ctx: Context) -> Iterator[Hit]:
    for c in ctx.of_type("cloudformation", "AWS::SageMaker::EndpointConfig"):
        if not c.extra.get("live") or _serverless(c):
            continue
        dcc = c.attributes.get("DataCaptureConfig")
        if not isinstance(dcc, Mapping) or not dcc:
            yield Hit(c, "no DataCaptureConfig", {"attribute": "DataCaptureConfig", "value": None})
        elif dcc.get("EnableCapture") is False:
            yield Hit(
                c,
                "DataCaptureConfig.EnableCapture is false",
                {"attribute": "DataCaptureConfig.EnableCapture", "value": False},
            )


def _data_capture_kms(ctx: Context) -> Iterator[Hit]:
    for c in ctx.of_type("cloudformation", "AWS::SageMaker::EndpointConfig"):
        dcc = c.attributes.get("DataCaptureConfig")
        if not c.extra.get("live") or not isinstance(dcc, Mapping) or not dcc:
            continue
        if dcc.get("EnableCapture") is False or dcc.get("KmsKeyId"):
            continue
        yield Hit(
            c,
            f"captures requests and responses to {dcc.get('DestinationS3Uri') or 'S3'} without "
            "DataCaptureConfig.KmsKeyId: they are not encrypted with a customer-managed key "
            "whose key policy limits who can read them",
            {"attribute": "DataCaptureConfig.KmsKeyId", "value": None},
        )


def register(registry: RuleRegistry) -> None:
    registry.logic_function("trail-sagemaker-management")(_trail_management)
    registry.logic_function("trail-model-bucket-data-events")(_trail_data)
    registry.logic_function("guardduty-enabled")(_guardduty)
    registry.logic_function("endpoint-unapproved-package")(_unapproved)
    registry.logic_function("registry-shared")(_registry_shared)
    registry.logic_function("kms-open-policy")(_kms_open)
    registry.logic_function("bucket-shared")(_bucket_shared)
    registry.logic_function("endpoint-data-capture")(_data_capture)
    registry.logic_function("endpoint-data-capture-kms")(_data_capture_kms)
