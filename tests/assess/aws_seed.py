"""A seeded account: one misconfigured and one hardened resource of each kind moto supports,
in us-east-1 and eu-west-1, plus the recorded responses for what moto lacks."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.assess.aws_support import (
    ACCOUNT,
    DOMAIN_ID,
    Recorded,
    clean_tarball,
    pickle_tarball,
)

E1, W1 = "us-east-1", "eu-west-1"
IMG = f"{ACCOUNT}.dkr.ecr.{E1}.amazonaws.com"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


_LC_FETCH = base64.b64encode(
    b"#!/bin/bash\ncurl -fsSL https://tools.example.com/setup.sh | sudo bash\n"
).decode()


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def seed(session: Any, recorded: Recorded) -> dict[str, str]:
    """Create the account; return names the tests refer to."""
    s3 = session.client("s3", region_name=E1)
    for name in ("ml-models-insecure", "ml-models-hardened", "unrelated-logs"):
        if name == "ml-models-hardened":
            s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            s3.create_bucket(Bucket=name)
    s3.put_object(Bucket="ml-models-insecure", Key="model.tar.gz", Body=pickle_tarball())
    s3.put_object(Bucket="ml-models-insecure", Key="pkg.tar.gz", Body=clean_tarball())
    s3.put_bucket_policy(
        Bucket="ml-models-insecure",
        Policy=_doc(
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::ml-models-insecure/*",
            }
        ),
    )
    h = "ml-models-hardened"
    s3.put_public_access_block(
        Bucket=h,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    kms = session.client("kms", region_name=E1)
    good_key = kms.create_key(Description="models")["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=good_key)  # the capture key below never rotates
    open_policy = _doc(
        {
            "Sid": "root",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "anyone",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
        },
    )
    open_key = kms.create_key(Description="capture", Policy=open_policy)["KeyMetadata"]["Arn"]
    s3.put_bucket_encryption(
        Bucket=h,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": good_key,
                    }
                }
            ]
        },
    )
    s3.put_bucket_versioning(Bucket=h, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=h, Key="model.tar.gz", Body=clean_tarball())
    s3.put_bucket_policy(
        Bucket=h,
        Policy=_doc(
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{h}", f"arn:aws:s3:::{h}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ),
    )

    iam = session.client("iam", region_name=E1)
    wide = iam.create_role(RoleName="sm-exec-wide", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(
        RoleName="sm-exec-wide",
        PolicyName="everything",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}),
    )
    s3all = iam.create_policy(
        PolicyName="s3-all",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="sm-exec-wide", PolicyArn=s3all)
    narrow = iam.create_role(RoleName="sm-exec-narrow", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(
        RoleName="sm-exec-narrow",
        PolicyName="read-model",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{h}/*"}
        ),
    )
    wide_arn, narrow_arn = wide["Role"]["Arn"], narrow["Role"]["Arn"]
    # people and groups, not only execution roles: a data scientist with every SageMaker
    # action, a platform group that may pass any role (a local managed policy), and their
    # narrow counterparts
    iam.create_user(UserName="ds-alice")
    iam.put_user_policy(
        UserName="ds-alice",
        PolicyName="sagemaker-everything",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}),
    )
    pass_any = iam.create_policy(
        PolicyName="pass-any-role",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}),
    )["Policy"]["Arn"]
    iam.create_group(GroupName="ml-platform")
    iam.attach_group_policy(GroupName="ml-platform", PolicyArn=pass_any)
    iam.add_user_to_group(GroupName="ml-platform", UserName="ds-alice")
    iam.create_user(UserName="ds-bob")
    iam.put_user_policy(
        UserName="ds-bob",
        PolicyName="describe-endpoints",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "sagemaker:DescribeEndpoint", "Resource": "*"}
        ),
    )
    iam.create_group(GroupName="model-readers")
    iam.put_group_policy(
        GroupName="model-readers",
        PolicyName="read-models",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{h}/*"}
        ),
    )

    ecr = session.client("ecr", region_name=E1)
    ecr.create_repository(repositoryName="inference-mutable")
    ecr.create_repository(
        repositoryName="inference-locked",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
    )

    for region in (E1, W1):
        sm = session.client("sagemaker", region_name=region)
        sfx = "" if region == E1 else "-w1"
        # us-east-1: "#!/bin/bash\necho ok"; eu-west-1 pipes a download into a shell
        script = "IyEvYmluL2Jhc2gKZWNobyBvaw==" if region == E1 else _LC_FETCH
        sm.create_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=f"on-start{sfx}",
            OnStart=[{"Content": script}],
        )
        sm.create_notebook_instance(
            NotebookInstanceName=f"nb-insecure{sfx}",
            InstanceType="ml.t3.medium",
            RoleArn=wide_arn,
            LifecycleConfigName=f"on-start{sfx}",
        )
        sm.create_notebook_instance(
            NotebookInstanceName=f"nb-hardened{sfx}",
            InstanceType="ml.t3.medium",
            RoleArn=narrow_arn,
            KmsKeyId=good_key,
            SubnetId="subnet-0a1b2c3d",
            SecurityGroupIds=["sg-0a1b2c3d"],
            DirectInternetAccess="Disabled",
            RootAccess="Disabled",
        )
    sm = session.client("sagemaker", region_name=E1)
    sm.create_model(
        ModelName="model-insecure",
        PrimaryContainer={
            "Image": f"{IMG}/inference-mutable:latest",
            "ModelDataUrl": "s3://ml-models-insecure/model.tar.gz",
            "Environment": {"HF_TOKEN": "hf_super_secret_value", "MODEL_NAME": "bert"},
        },
        ExecutionRoleArn=wide_arn,
    )
    sm.create_model(
        ModelName="model-hardened",
        PrimaryContainer={
            "Image": f"{IMG}/inference-locked:1.0",
            "ModelDataUrl": f"s3://{h}/model.tar.gz",
        },
        ExecutionRoleArn=narrow_arn,
        EnableNetworkIsolation=True,
        VpcConfig={"SecurityGroupIds": ["sg-0a1b2c3d"], "Subnets": ["subnet-0a1b2c3d"]},
    )
    group = sm.create_model_package_group(ModelPackageGroupName="fraud")["ModelPackageGroupArn"]
    package = sm.create_model_package(
        ModelPackageGroupName="fraud",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": f"{IMG}/inference-locked:2.0",
                    "ModelDataUrl": "s3://ml-models-insecure/pkg.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    sm.create_model(
        ModelName="model-from-registry",
        PrimaryContainer={"ModelPackageName": package},
        ExecutionRoleArn=narrow_arn,
        EnableNetworkIsolation=True,
        VpcConfig={"SecurityGroupIds": ["sg-0a1b2c3d"], "Subnets": ["subnet-0a1b2c3d"]},
    )
    variant = {"VariantName": "all", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(
        EndpointConfigName="epc-insecure",
        ProductionVariants=[{**variant, "ModelName": "model-insecure"}],
    )
    sm.create_endpoint_config(
        EndpointConfigName="epc-hardened",
        ProductionVariants=[{**variant, "ModelName": "model-hardened"}],
        KmsKeyId=good_key,
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{h}/capture",
            "KmsKeyId": open_key,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName="epc-registry",
        ProductionVariants=[{**variant, "ModelName": "model-from-registry"}],
        KmsKeyId=good_key,
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 10,
            "DestinationS3Uri": f"s3://{h}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}],
        },
    )
    # references outside the account: a public sample bucket, a partner's key (noted, not read)
    sm.create_model(
        ModelName="model-sample",
        PrimaryContainer={
            "Image": f"{IMG}/inference-locked:1.0",
            "ModelDataUrl": "s3://sagemaker-sample-files/models/xgboost/model.tar.gz",
        },
        ExecutionRoleArn=narrow_arn,
        EnableNetworkIsolation=True,
        VpcConfig={"SecurityGroupIds": ["sg-0a1b2c3d"], "Subnets": ["subnet-0a1b2c3d"]},
    )
    partner_key = "arn:aws:kms:us-east-1:210987654321:key/0b1c2d3e-0000-4000-8000-000000000001"
    sm.create_endpoint_config(
        EndpointConfigName="epc-partner",
        ProductionVariants=[{**variant, "ModelName": "model-sample"}],
        KmsKeyId=partner_key,
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 5,
            "DestinationS3Uri": f"s3://{h}/capture",
            "KmsKeyId": partner_key,
            "CaptureOptions": [{"CaptureMode": "Input"}],
        },
    )
    for name in ("insecure", "hardened", "registry"):
        sm.create_endpoint(EndpointName=f"ep-{name}", EndpointConfigName=f"epc-{name}")
    common = {
        "AlgorithmSpecification": {
            "TrainingImage": f"{IMG}/inference-locked:train",
            "TrainingInputMode": "File",
        },
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    sm.create_training_job(
        TrainingJobName="train-insecure",
        RoleArn=wide_arn,
        OutputDataConfig={"S3OutputPath": "s3://ml-models-insecure/out"},
        HyperParameters={"db_password": "hunter2", "epochs": "3"},
        **common,
    )
    sm.create_training_job(
        TrainingJobName="train-hardened",
        RoleArn=narrow_arn,
        OutputDataConfig={"S3OutputPath": f"s3://{h}/out", "KmsKeyId": good_key},
        EnableNetworkIsolation=True,
        EnableInterContainerTrafficEncryption=True,
        VpcConfig={"SecurityGroupIds": ["sg-0a1b2c3d"], "Subnets": ["subnet-0a1b2c3d"]},
        **{**common, "ResourceConfig": {**common["ResourceConfig"], "VolumeKmsKeyId": good_key}},
    )
    train_step = {
        "Name": "train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": common["AlgorithmSpecification"],
            "OutputDataConfig": {"S3OutputPath": "s3://ml-models-insecure/pipeline"},
            "ResourceConfig": common["ResourceConfig"],
            "RoleArn": wide_arn,
            "StoppingCondition": common["StoppingCondition"],
        },
    }
    sm.create_pipeline(
        PipelineName="retrain",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": [train_step]}),
        RoleArn=wide_arn,
    )
    sm.create_processing_job(
        ProcessingJobName="features",
        ProcessingResources={
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 10,
            }
        },
        AppSpecification={"ImageUri": f"{IMG}/inference-locked:proc"},
        RoleArn=narrow_arn,
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    sm.create_processing_job(
        ProcessingJobName="features-hardened",
        ProcessingResources={
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 10,
                "VolumeKmsKeyId": good_key,
            }
        },
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "features",
                    "S3Output": {
                        "S3Uri": f"s3://{h}/features",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": good_key,
        },
        NetworkConfig={
            "EnableNetworkIsolation": True,
            "VpcConfig": {"SecurityGroupIds": ["sg-0a1b2c3d"], "Subnets": ["subnet-0a1b2c3d"]},
        },
        AppSpecification={"ImageUri": f"{IMG}/inference-locked:proc"},
        RoleArn=narrow_arn,
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    sm.create_domain(
        DomainName="studio-insecure",
        AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": wide_arn},
        SubnetIds=["subnet-0a1b2c3d"],
        VpcId="vpc-0a1b2c3d",
    )
    domains = sm.list_domains()["Domains"]

    ct = session.client("cloudtrail", region_name=E1)
    s3.create_bucket(Bucket="trail-logs")
    ct.create_trail(Name="mgmt", S3BucketName="trail-logs", IsMultiRegionTrail=False)
    ct.start_logging(Name="mgmt")
    ct.put_event_selectors(
        TrailName="mgmt",
        EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}],
    )
    session.client("guardduty", region_name=E1).create_detector(
        Enable=True, Features=[{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}]
    )

    # what moto does not implement: recorded, in the shapes of the SageMaker API reference
    domain_id = domains[0]["DomainId"] if domains else DOMAIN_ID
    profile = {
        "DomainId": domain_id,
        "UserProfileArn": f"arn:aws:sagemaker:{E1}:{ACCOUNT}:user-profile/{domain_id}/alice",
        "UserProfileName": "alice",
        "Status": "InService",
        "UserSettings": {"ExecutionRole": wide_arn},
    }

    def list_profiles(req: dict[str, Any]) -> dict[str, Any]:
        if req.get("DomainIdEquals") not in (None, domain_id):
            return {"UserProfiles": []}
        keys = ("DomainId", "UserProfileName", "Status")
        return {"UserProfiles": [{k: profile[k] for k in keys}]}

    recorded.responses["SageMaker.ListUserProfiles"] = list_profiles
    recorded.responses["SageMaker.DescribeUserProfile"] = profile
    shared = _doc(
        {
            "Sid": "ShareWithPartner",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            "Action": ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
            "Resource": f"arn:aws:sagemaker:{E1}:{ACCOUNT}:model-package/fraud/*",
        }
    )
    recorded.responses["SageMaker.GetModelPackageGroupPolicy"] = {"ResourcePolicy": shared}
    return {"group": group, "package": package, "open_key": open_key, "good_key": good_key}
