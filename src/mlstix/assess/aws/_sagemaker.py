"""SageMaker, read once per region: notebooks and their lifecycle configurations, Studio domains
and user profiles, models, endpoint configurations, endpoints, recent training and processing
jobs, model package groups (with their resource policies) and packages, pipelines.

``Describe*`` responses share their field names with the CloudFormation ``AWS::SageMaker::*``
properties (SageMaker API reference; CloudFormation resource reference), so the IaC rules read
them as they are; the few renamed fields are copied under the CloudFormation name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlstix.assess.aws._client import AwsAccess

__all__ = ["Limits", "collect_sagemaker"]


class Limits:
    """Bounds on what one region's assessment reads."""

    jobs_per_kind = 50  # most recent training / processing jobs described
    packages_per_group = 20  # most recent model packages described per group
    items = 2_000  # any other listing


def _add(
    access: AwsAccess, region: str, rtype: str, name: str, arn: str, attrs: Mapping[str, Any]
) -> None:
    access.add_resource(rtype, name, arn, region, attrs)


def collect_sagemaker(access: AwsAccess, region: str) -> None:
    """Every SageMaker resource kind of one region into the inventory."""
    _notebooks(access, region)
    _domains(access, region)
    _models(access, region)
    _endpoints(access, region)
    _jobs(access, region)
    _registry(access, region)
    _pipelines(access, region)


def _notebooks(access: AwsAccess, region: str) -> None:
    lifecycle: set[str] = set()
    for item in access.pages(
        "sagemaker", region, "ListNotebookInstances", "NotebookInstances", limit=Limits.items
    ):
        d = access.call(
            "sagemaker",
            region,
            "DescribeNotebookInstance",
            NotebookInstanceName=item["NotebookInstanceName"],
        )
        if d is None:
            continue
        attrs = dict(d)
        attrs["SecurityGroupIds"] = d.get("SecurityGroups", [])
        if d.get("NotebookInstanceLifecycleConfigName"):
            attrs["LifecycleConfigName"] = d["NotebookInstanceLifecycleConfigName"]
            lifecycle.add(str(d["NotebookInstanceLifecycleConfigName"]))
        _add(
            access,
            region,
            "AWS::SageMaker::NotebookInstance",
            d["NotebookInstanceName"],
            d["NotebookInstanceArn"],
            attrs,
        )
    # the configurations the notebooks run (DescribeNotebookInstanceLifecycleConfig)
    for name in sorted(lifecycle):
        d = access.call(
            "sagemaker",
            region,
            "DescribeNotebookInstanceLifecycleConfig",
            NotebookInstanceLifecycleConfigName=name,
        )
        if d is not None:
            _add(
                access,
                region,
                "AWS::SageMaker::NotebookInstanceLifecycleConfig",
                name,
                d["NotebookInstanceLifecycleConfigArn"],
                d,
            )


def _domains(access: AwsAccess, region: str) -> None:
    for item in access.pages("sagemaker", region, "ListDomains", "Domains", limit=Limits.items):
        d = access.call("sagemaker", region, "DescribeDomain", DomainId=item["DomainId"])
        if d is None:
            continue
        _add(access, region, "AWS::SageMaker::Domain", d["DomainName"], d["DomainArn"], d)
        for up in access.pages(
            "sagemaker",
            region,
            "ListUserProfiles",
            "UserProfiles",
            limit=Limits.items,
            DomainIdEquals=item["DomainId"],
        ):
            p = access.call(
                "sagemaker",
                region,
                "DescribeUserProfile",
                DomainId=item["DomainId"],
                UserProfileName=up["UserProfileName"],
            )
            if p is not None:
                _add(
                    access,
                    region,
                    "AWS::SageMaker::UserProfile",
                    f"{d['DomainName']}/{p['UserProfileName']}",
                    p.get("UserProfileArn", ""),
                    p,
                )


def _models(access: AwsAccess, region: str) -> None:
    for item in access.pages("sagemaker", region, "ListModels", "Models", limit=Limits.items):
        d = access.call("sagemaker", region, "DescribeModel", ModelName=item["ModelName"])
        if d is not None:
            _add(access, region, "AWS::SageMaker::Model", d["ModelName"], d["ModelArn"], d)


def _endpoints(access: AwsAccess, region: str) -> None:
    for item in access.pages(
        "sagemaker", region, "ListEndpointConfigs", "EndpointConfigs", limit=Limits.items
    ):
        d = access.call(
            "sagemaker",
            region,
            "DescribeEndpointConfig",
            EndpointConfigName=item["EndpointConfigName"],
        )
        if d is not None:
            _add(
                access,
                region,
                "AWS::SageMaker::EndpointConfig",
                d["EndpointConfigName"],
                d["EndpointConfigArn"],
                d,
            )
    for item in access.pages("sagemaker", region, "ListEndpoints", "Endpoints", limit=Limits.items):
        d = access.call("sagemaker", region, "DescribeEndpoint", EndpointName=item["EndpointName"])
        if d is not None:
            _add(access, region, "AWS::SageMaker::Endpoint", d["EndpointName"], d["EndpointArn"], d)


def _jobs(access: AwsAccess, region: str) -> None:
    recent = {"SortBy": "CreationTime", "SortOrder": "Descending"}
    for listing, key, describe, name_key, rtype in (
        (
            "ListTrainingJobs",
            "TrainingJobSummaries",
            "DescribeTrainingJob",
            "TrainingJobName",
            "AWS::SageMaker::TrainingJob",
        ),
        (
            "ListProcessingJobs",
            "ProcessingJobSummaries",
            "DescribeProcessingJob",
            "ProcessingJobName",
            "AWS::SageMaker::ProcessingJob",
        ),
    ):
        for item in access.pages(
            "sagemaker", region, listing, key, limit=Limits.jobs_per_kind, **recent
        ):
            d = access.call("sagemaker", region, describe, **{name_key: item[name_key]})
            if d is not None:
                arn = d.get(name_key.replace("Name", "Arn"), "")
                _add(access, region, rtype, d[name_key], arn, d)


def _registry(access: AwsAccess, region: str) -> None:
    for item in access.pages(
        "sagemaker",
        region,
        "ListModelPackageGroups",
        "ModelPackageGroupSummaryList",
        limit=Limits.items,
    ):
        group = item["ModelPackageGroupName"]
        d = access.call(
            "sagemaker", region, "DescribeModelPackageGroup", ModelPackageGroupName=group
        )
        if d is None:
            continue
        attrs = dict(d)
        policy = access.call(
            "sagemaker",
            region,
            "GetModelPackageGroupPolicy",
            absent=("ResourceNotFound", "ValidationException"),
            ModelPackageGroupName=group,
        )
        if policy is not None and policy.get("ResourcePolicy"):
            try:
                attrs["ModelPackageGroupPolicy"] = json.loads(policy["ResourcePolicy"])
            except ValueError:
                attrs["ModelPackageGroupPolicy"] = policy["ResourcePolicy"]
        _add(
            access,
            region,
            "AWS::SageMaker::ModelPackageGroup",
            group,
            d["ModelPackageGroupArn"],
            attrs,
        )
        for pkg in access.pages(
            "sagemaker",
            region,
            "ListModelPackages",
            "ModelPackageSummaryList",
            limit=Limits.packages_per_group,
            ModelPackageGroupName=group,
            SortBy="CreationTime",
            SortOrder="Descending",
        ):
            describe_package(access, region, pkg["ModelPackageArn"])


def describe_package(access: AwsAccess, region: str, arn: str) -> None:
    d = access.call("sagemaker", region, "DescribeModelPackage", ModelPackageName=arn)
    if d is not None:
        name = f"{d.get('ModelPackageGroupName', '')}/{d.get('ModelPackageVersion', '')}"
        _add(access, region, "AWS::SageMaker::ModelPackage", name, d["ModelPackageArn"], d)


def _pipelines(access: AwsAccess, region: str) -> None:
    for item in access.pages(
        "sagemaker", region, "ListPipelines", "PipelineSummaries", limit=Limits.items
    ):
        d = access.call("sagemaker", region, "DescribePipeline", PipelineName=item["PipelineName"])
        if d is None:
            continue
        attrs = dict(d)
        # CloudFormation: PipelineDefinition.PipelineDefinitionBody holds the JSON definition
        attrs["PipelineDefinition"] = {"PipelineDefinitionBody": d.get("PipelineDefinition")}
        _add(access, region, "AWS::SageMaker::Pipeline", d["PipelineName"], d["PipelineArn"], attrs)
