"""CloudTrail trails and GuardDuty detectors: whether changes to models and reads of model
buckets are recorded, and whether threat detection watches the account.

Trails (``DescribeTrails`` with shadow trails, then ``GetTrailStatus`` and ``GetEventSelectors`` in
the trail's home region) take the shape of ``AWS::CloudTrail::Trail`` (``IsLogging``,
``IsMultiRegionTrail``, ``EventSelectors``, ``AdvancedEventSelectors``). Detectors
(``ListDetectors``, ``GetDetector``) take the shape of ``AWS::GuardDuty::Detector`` (``Enable``,
``DataSources``, ``Features``). Each assessed region is also a ``MLSTIX::AWS::Region`` resource, so
that a region without a trail or detector has something to carry the finding.
"""

from __future__ import annotations

import threading
from typing import Any

from mlstix.assess._inventory import live_resource
from mlstix.assess.aws._client import AwsAccess

__all__ = ["collect_guardduty", "collect_region", "collect_trails"]


def _add(access: AwsAccess, rtype: str, name: str, ident: str, region: str, attrs: Any) -> None:
    access.inventory.add(
        live_resource(
            provider="aws",
            type=rtype,
            name=name,
            ident=ident,
            attributes=attrs,
            language="cloudformation",
            account=access.account,
            region=region,
        )
    )


def collect_region(access: AwsAccess, region: str) -> None:
    _add(
        access,
        "MLSTIX::AWS::Region",
        region,
        f"aws://{access.account}/{region}",
        region,
        {"RegionName": region, "Enabled": not access.region_off(region)},
    )


def collect_trails(access: AwsAccess, region: str, seen: set[str], lock: threading.Lock) -> None:
    d = access.call("cloudtrail", region, "DescribeTrails", includeShadowTrails=True)
    for trail in (d or {}).get("trailList") or []:
        arn = str(trail.get("TrailARN", ""))
        with lock:
            if not arn or arn in seen:
                continue
            seen.add(arn)
        home = str(trail.get("HomeRegion") or region)
        attrs = dict(trail)
        status = access.call("cloudtrail", home, "GetTrailStatus", Name=arn)
        attrs["IsLogging"] = bool((status or {}).get("IsLogging")) if status else None
        selectors = access.call("cloudtrail", home, "GetEventSelectors", TrailName=arn)
        if selectors is not None:
            attrs["EventSelectors"] = selectors.get("EventSelectors") or []
            attrs["AdvancedEventSelectors"] = selectors.get("AdvancedEventSelectors") or []
        _add(access, "AWS::CloudTrail::Trail", str(trail.get("Name", arn)), arn, home, attrs)


def collect_guardduty(access: AwsAccess, region: str) -> None:
    for detector_id in access.pages("guardduty", region, "ListDetectors", "DetectorIds"):
        d = access.call("guardduty", region, "GetDetector", DetectorId=detector_id)
        if d is None:
            continue
        attrs = dict(d)
        attrs["Enable"] = d.get("Status") == "ENABLED"
        arn = f"arn:{access.partition}:guardduty:{region}:{access.account}:detector/{detector_id}"
        _add(access, "AWS::GuardDuty::Detector", detector_id, arn, region, attrs)
