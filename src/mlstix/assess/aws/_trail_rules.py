"""Logic of the AWS live-only rules on audit coverage (metadata in ``assess/rules/aws.yaml``).

- ``trail-sagemaker-management``: a region where no logging trail records SageMaker management
  events. A trail covers a region when it is multi-region or lives there; basic event selectors
  record management events unless ``IncludeManagementEvents`` is false or ``ReadWriteType`` is
  ``ReadOnly``; advanced selectors need ``eventCategory = Management`` without a ``readOnly =
  true`` filter, and an ``eventSource`` filter (any operator) that admits
  ``sagemaker.amazonaws.com``
  (CloudTrail User Guide, "Logging management events").
- ``trail-model-bucket-data-events``: a model bucket whose object reads and writes no trail records
  (``AWS::S3::Object`` data resources ``arn:aws:s3`` / ``arn:aws:s3:::bucket/...``, or advanced
  selectors on ``resources.type = AWS::S3::Object`` whose ``resources.ARN`` filter, if any,
  admits an object of the bucket).
- ``guardduty-enabled``: a region with no enabled GuardDuty detector.
- ``guardduty-s3-protection``: an enabled detector whose S3 Protection (feature ``S3_DATA_EVENTS``,
  formerly ``DataSources.S3Logs``) is not ``ENABLED`` in a region holding model buckets
  (GuardDuty User Guide, "GuardDuty S3 Protection"; API GetDetector ``Features``).
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


def _s3_protection(detector: Resource) -> str | None:
    """The detector's S3 Protection status: the ``S3_DATA_EVENTS`` feature, else the older
    ``DataSources.S3Logs`` (GuardDuty GetDetector); None when neither is given."""
    for feature in _as_list(detector.attributes.get("Features")):
        if isinstance(feature, Mapping) and feature.get("Name") == "S3_DATA_EVENTS":
            return str(feature.get("Status"))
    logs = (detector.attributes.get("DataSources") or {}).get("S3Logs")
    return str(logs.get("Status")) if isinstance(logs, Mapping) and logs.get("Status") else None


def _s3_protection_detectors(ctx: Context) -> list[tuple[Resource, str, list[str]]]:
    """The detectors ``guardduty-s3-protection`` judges, with their S3 Protection status and the
    model buckets of their region: enabled detectors (a disabled or missing one is GD-001) in a
    region holding live model buckets, whose status GuardDuty answered (once a scan)."""
    if "guardduty-s3-detectors" in ctx.memo:
        memo: list[tuple[Resource, str, list[str]]] = ctx.memo["guardduty-s3-detectors"]
        return memo
    from mlstix.scan.rules.iac.aws import model_buckets

    regions: dict[str, list[str]] = {}
    for bucket in model_buckets(ctx):
        if bucket.extra.get("live"):
            regions.setdefault(str(bucket.extra.get("region", "")), []).append(bucket.name)
    out = []
    for d in ctx.of_type("cloudformation", "AWS::GuardDuty::Detector"):
        region = str(d.extra.get("region", ""))
        status = _s3_protection(d)
        if d.attributes.get("Enable") is True and region in regions and status is not None:
            out.append((d, status, sorted(regions[region])))
    ctx.memo["guardduty-s3-detectors"] = out
    return out


def _guardduty_s3(ctx: Context) -> Iterator[Hit]:
    for d, status, buckets in _s3_protection_detectors(ctx):
        region = str(d.extra.get("region", ""))
        if status != "ENABLED":
            yield Hit(
                d,
                f"S3 Protection (feature S3_DATA_EVENTS) is {status} while {len(buckets)} model "
                f"bucket{'s' if len(buckets) != 1 else ''} live in {region} "
                f"({', '.join(buckets[:5])}{', ...' if len(buckets) > 5 else ''})",
                {"attribute": "Features.S3_DATA_EVENTS", "value": status},
            )


def _s3_detectors(ctx: Context) -> list[Resource]:
    """What ``guardduty-s3-protection`` judges (:func:`_s3_protection_detectors`)."""
    return [d for d, _, _ in _s3_protection_detectors(ctx)]


def _live_model_buckets(ctx: Context) -> list[Resource]:
    """What ``trail-model-bucket-data-events`` judges: the live model buckets."""
    from mlstix.scan.rules.iac.aws import model_buckets

    return [b for b in model_buckets(ctx) if b.extra.get("live")]


def register(registry: RuleRegistry) -> None:
    registry.logic_function("trail-sagemaker-management")(_trail_management)
    registry.logic_function("trail-model-bucket-data-events")(_trail_data)
    registry.add_subjects({"trail-model-bucket-data-events": _live_model_buckets})
    registry.add_subjects({"guardduty-s3-protection": _s3_detectors})
    registry.logic_function("guardduty-enabled")(_guardduty)
    registry.logic_function("guardduty-s3-protection")(_guardduty_s3)
