"""Each live rule added or changed in the practitioner's review fires on the unsafe resource and
stays quiet on the safe one (and on the one that cannot have the setting). Resources are live
resources in the shape the collectors store (the API responses' own fields)."""

from __future__ import annotations

from typing import Any

import pytest

from mlstix.assess import Inventory, evaluate_inventory
from mlstix.assess._inventory import live_resource
from mlstix.kb.graph import KnowledgeBase

ACCOUNT = "123456789012"
SM = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"


def _findings(cloud: Any, kb: KnowledgeBase, *resources: Any) -> dict[str, set[str]]:
    inv = Inventory(cloud=cloud, target="t")
    for r in resources:
        inv.add(r)
    out: dict[str, set[str]] = {}
    for f in evaluate_inventory(inv, kb).findings:
        out.setdefault(f.rule_id, set()).add(f.location.path)
    return out


def _aws(rtype: str, name: str, ident: str, attrs: dict[str, Any]) -> Any:
    return live_resource(
        provider="aws",
        type=rtype,
        name=name,
        ident=ident,
        attributes=attrs,
        language="cloudformation",
        account=ACCOUNT,
        region="us-east-1",
    )


def _config(name: str, **attrs: Any) -> Any:
    variant = attrs.pop("variant", {"VariantName": "all", "ModelName": "m", "InstanceType": "x"})
    attrs = {"EndpointConfigName": name, "ProductionVariants": [variant], **attrs}
    return _aws("AWS::SageMaker::EndpointConfig", name, f"{SM}:endpoint-config/{name}", attrs)


CAPTURE = {
    "EnableCapture": True,
    "InitialSamplingPercentage": 100,
    "DestinationS3Uri": "s3://capture-bucket/ep",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
}
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0b1c2d3e-0000-4000-8000-00000000000a"


def test_data_capture_without_kms_and_serverless_configs(kb: KnowledgeBase) -> None:
    found = _findings(
        "aws",
        kb,
        _config("no-key", DataCaptureConfig=CAPTURE),
        _config("with-key", DataCaptureConfig={**CAPTURE, "KmsKeyId": KEY}),
        _config("capture-off", DataCaptureConfig={**CAPTURE, "EnableCapture": False}),
        _config("none"),
        _config(
            "serverless",
            variant={
                "VariantName": "all",
                "ModelName": "m",
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            },
        ),
    )
    assert found["MLSTIX-AWS-DC-002"] == {f"{SM}:endpoint-config/no-key"}
    # Serverless Inference cannot capture data: no DC-001 on it
    assert found["MLSTIX-AWS-DC-001"] == {
        f"{SM}:endpoint-config/capture-off",
        f"{SM}:endpoint-config/none",
    }


def _group(name: str, *statements: dict[str, Any]) -> Any:
    policy = {"Version": "2012-10-17", "Statement": list(statements)}
    return _aws(
        "AWS::SageMaker::ModelPackageGroup",
        name,
        f"{SM}:model-package-group/{name}",
        {"ModelPackageGroupName": name, "ModelPackageGroupPolicy": policy},
    )


READ = ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"]
PARTNER = {"AWS": "arn:aws:iam::210987654321:role/model-deployer"}
ORG = {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}


def test_registry_sharing_inside_the_organisation_is_quiet(kb: KnowledgeBase) -> None:
    found = _findings(
        "aws",
        kb,
        _group(
            "org-read", {"Effect": "Allow", "Principal": PARTNER, "Action": READ, "Condition": ORG}
        ),
        _group("org-all", {"Effect": "Allow", "Principal": "*", "Action": READ, "Condition": ORG}),
        _group(
            "own",
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sagemaker:*",
            },
        ),
        _group("read-no-org", {"Effect": "Allow", "Principal": PARTNER, "Action": READ}),
        _group(
            "org-write",
            {
                "Effect": "Allow",
                "Principal": PARTNER,
                "Action": [*READ, "sagemaker:UpdateModelPackage"],
                "Condition": ORG,
            },
        ),
        _group("everyone", {"Effect": "Allow", "Principal": "*", "Action": "sagemaker:Describe*"}),
        _group("denied", {"Effect": "Deny", "Principal": "*", "Action": "sagemaker:*"}),
    )
    assert found["MLSTIX-AWS-SMR-002"] == {
        f"{SM}:model-package-group/{n}" for n in ("read-no-org", "org-write", "everyone")
    }


def _arm(rtype: str, rid: str, props: dict[str, Any]) -> Any:
    return live_resource(
        provider="azure",
        type=rtype,
        name=rid.rsplit("/", 1)[-1],
        ident=rid,
        attributes={"id": rid, "type": rtype, "properties": props},
        language="arm",
        account="sub",
        region="eastus2",
    )


WS = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w"
COMPUTE = "Microsoft.MachineLearningServices/workspaces/computes"


def _compute(name: str, ctype: str, **inner: Any) -> Any:
    return _arm(COMPUTE, f"{WS}/computes/{name}", {"computeType": ctype, "properties": inner})


def test_compute_ssh_open_to_public_networks(kb: KnowledgeBase) -> None:
    subnet = {
        "id": "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/"
        "v/subnets/ml"
    }
    found = _findings(
        "azure",
        kb,
        _compute("ci-open", "ComputeInstance", sshSettings={"sshPublicAccess": "Enabled"}),
        _compute("ci-default", "ComputeInstance", sshSettings={"adminUserName": "azureuser"}),
        _compute(
            "ci-private-ip",
            "ComputeInstance",
            enableNodePublicIp=False,
            sshSettings={"sshPublicAccess": "Enabled"},
        ),
        _compute("cc-open", "AmlCompute", remoteLoginPortPublicAccess="Enabled"),
        _compute("cc-unspecified", "AmlCompute", remoteLoginPortPublicAccess="NotSpecified"),
        _compute(
            "cc-vnet", "AmlCompute", remoteLoginPortPublicAccess="NotSpecified", subnet=subnet
        ),
        _compute("cc-closed", "AmlCompute", remoteLoginPortPublicAccess="Disabled"),
        _compute("aks", "Kubernetes"),
    )
    assert found["MLSTIX-AZ-CMP-001"] == {
        f"{WS}/computes/{n}" for n in ("ci-open", "cc-open", "cc-unspecified")
    }


def test_azure_ml_registry_public_network_access(kb: KnowledgeBase) -> None:
    reg = f"{WS.rsplit('/workspaces/', 1)[0]}/registries"
    rtype = "Microsoft.MachineLearningServices/registries"
    found = _findings(
        "azure",
        kb,
        _arm(rtype, f"{reg}/open", {"publicNetworkAccess": "Enabled"}),
        _arm(rtype, f"{reg}/unset", {"regionDetails": []}),
        _arm(rtype, f"{reg}/private", {"publicNetworkAccess": "Disabled"}),
    )
    assert found["MLSTIX-AZ-REG-001"] == {f"{reg}/open", f"{reg}/unset"}


def _workbench(name: str, metadata: dict[str, str]) -> Any:
    ident = f"//notebooks.googleapis.com/projects/p/locations/us-central1-a/instances/{name}"
    return live_resource(
        provider="gcp",
        type="notebooks.googleapis.com/Instance",
        name=name,
        ident=ident,
        attributes={
            "name": f"projects/p/locations/us-central1-a/instances/{name}",
            "gceSetup": {"disablePublicIp": True, "metadata": metadata},
        },
        language="terraform",
        account="p",
        region="us-central1-a",
    )


@pytest.mark.parametrize(
    ("metadata", "fires"),
    [
        ({}, True),
        ({"notebook-disable-root": "false"}, True),
        ({"notebook-disable-root": "true"}, False),
        ({"notebook-disable-root": "TRUE", "idle-timeout-seconds": "10800"}, False),
    ],
)
def test_workbench_root_access(kb: KnowledgeBase, metadata: dict[str, str], fires: bool) -> None:
    found = _findings("gcp", kb, _workbench("wb", metadata))
    assert ("MLSTIX-GCP-WB-004" in found) is fires


def _trail(name: str, arn_field: dict[str, Any] | None) -> Any:
    fields = [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
    ]
    if arn_field is not None:
        fields.append({"Field": "resources.ARN", **arn_field})
    attrs = {
        "TrailName": name,
        "IsLogging": True,
        "IsMultiRegionTrail": True,
        "AdvancedEventSelectors": [{"Name": "objects", "FieldSelectors": fields}],
    }
    return _aws(
        "AWS::CloudTrail::Trail",
        name,
        f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{name}",
        attrs,
    )


BUCKET = "arn:aws:s3:::ml-models-prod"


@pytest.mark.parametrize(
    ("arn_field", "covered"),
    [
        (None, True),
        ({"StartsWith": [f"{BUCKET}/"]}, True),
        ({"StartsWith": [f"{BUCKET}/models/"]}, True),  # the models' prefix: recorded
        ({"StartsWith": ["arn:aws:s3:::ml-"]}, True),  # a string prefix matches the bucket too
        ({"Equals": [f"{BUCKET}/models/fraud.pkl"]}, True),
        ({"StartsWith": ["arn:aws:s3:::ml-models-prod-logs/"]}, False),
        ({"StartsWith": ["arn:aws:s3:::other/"]}, False),
        ({"NotStartsWith": ["arn:aws:s3:::other/"]}, True),  # everything but another bucket
        ({"NotStartsWith": [f"{BUCKET}/"]}, False),
    ],
)
def test_model_bucket_data_events_follow_advanced_selectors(
    kb: KnowledgeBase, arn_field: dict[str, Any] | None, covered: bool
) -> None:
    bucket = _aws("AWS::S3::Bucket", "ml-models-prod", BUCKET, {"BucketName": "ml-models-prod"})
    found = _findings("aws", kb, bucket, _trail("objects", arn_field))
    assert (BUCKET in found.get("MLSTIX-AWS-CT-002", set())) is not covered


def _repo(region: str, name: str) -> Any:
    arn = f"arn:aws:ecr:{region}:{ACCOUNT}:repository/{name}"
    attrs = {"RepositoryName": name, "ImageTagMutability": "IMMUTABLE"}
    return live_resource(
        provider="aws",
        type="AWS::ECR::Repository",
        name=name,
        ident=arn,
        attributes=attrs,
        language="cloudformation",
        account=ACCOUNT,
        region=region,
    )


def test_registry_scanning_covers_repositories_of_its_own_region_only(kb: KnowledgeBase) -> None:
    scanning = live_resource(
        provider="aws",
        type="AWS::ECR::RegistryScanningConfiguration",
        name=ACCOUNT,
        ident=f"arn:aws:ecr:us-east-1:{ACCOUNT}:registry",
        attributes={
            "ScanType": "BASIC",
            "Rules": [
                {
                    "ScanFrequency": "SCAN_ON_PUSH",
                    "RepositoryFilters": [{"Filter": "*", "FilterType": "WILDCARD"}],
                }
            ],
        },
        language="cloudformation",
        account=ACCOUNT,
        region="us-east-1",
    )
    found = _findings(
        "aws", kb, scanning, _repo("us-east-1", "serving"), _repo("eu-west-1", "serving")
    )
    assert found["MLSTIX-AWS-ECR-002"] == {f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/serving"}


def _region(name: str) -> Any:
    return _aws("MLSTIX::AWS::Region", name, f"aws://{ACCOUNT}/{name}", {"Enabled": True})


def _management_trail(source: dict[str, Any] | None) -> Any:
    fields: list[dict[str, Any]] = [{"Field": "eventCategory", "Equals": ["Management"]}]
    if source is not None:
        fields.append({"Field": "eventSource", **source})
    attrs = {
        "TrailName": "mgmt",
        "IsLogging": True,
        "IsMultiRegionTrail": True,
        "AdvancedEventSelectors": [{"Name": "management", "FieldSelectors": fields}],
    }
    return _aws(
        "AWS::CloudTrail::Trail",
        "mgmt",
        f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/mgmt",
        attrs,
    )


@pytest.mark.parametrize(
    ("source", "recorded"),
    [
        (None, True),
        ({"Equals": ["sagemaker.amazonaws.com", "s3.amazonaws.com"]}, True),
        ({"StartsWith": ["sagemaker."]}, True),
        ({"NotEquals": ["kms.amazonaws.com"]}, True),
        ({"NotStartsWith": ["rdsdata."]}, True),
        ({"Equals": ["s3.amazonaws.com"]}, False),
        ({"NotEquals": ["sagemaker.amazonaws.com"]}, False),
        ({"NotStartsWith": ["sage"]}, False),
        ({"EndsWith": [".s3.amazonaws.com"]}, False),
    ],
)
def test_sagemaker_management_events_follow_event_source_operators(
    kb: KnowledgeBase, source: dict[str, Any] | None, recorded: bool
) -> None:
    found = _findings("aws", kb, _region("us-east-1"), _management_trail(source))
    assert ("MLSTIX-AWS-CT-001" in found) is not recorded


def _lifecycle(name: str, script: str) -> Any:
    import base64

    content = base64.b64encode(script.encode()).decode()
    return _aws(
        "AWS::SageMaker::NotebookInstanceLifecycleConfig",
        name,
        f"{SM}:notebook-instance-lifecycle-config/{name}",
        {"NotebookInstanceLifecycleConfigName": name, "OnStart": [{"Content": content}]},
    )


@pytest.mark.parametrize(
    ("script", "fires"),
    [
        ("#!/bin/bash\ncurl -fsSL https://example.com/setup.sh | sudo -E bash\n", True),
        ("#!/bin/bash\nset -e\nwget -qO- https://get.example.io|sh\n", True),
        ("#!/bin/bash\nbash <(curl -s https://example.com/install)\n", True),
        ("#!/bin/bash\ncurl -o /tmp/m.tar.gz http://models.example.com/m.tar.gz\n", True),
        (
            "#!/bin/bash\nset -euo pipefail\naws s3 cp s3://ml-bootstrap/setup-1.4.2.sh /tmp/s.sh\n"
            'echo "ab12  /tmp/s.sh" | sha256sum -c -\nbash /tmp/s.sh\n',
            False,
        ),
        ("#!/bin/bash\npip install --quiet 'scikit-learn==1.5.2'\n", False),
        # the instance metadata service and Jupyter on loopback are read over plain HTTP
        ("#!/bin/bash\nID=$(curl -s http://169.254.169.254/latest/meta-data/instance-id)\n", False),
        ("#!/bin/bash\nwget -q -O- http://localhost:8888/api/status\n", False),
        ("#!/bin/bash\ncurl -fsS https://example.com/health > /dev/null\n", False),
    ],
)
def test_lifecycle_script_that_runs_downloaded_code(
    kb: KnowledgeBase, script: str, fires: bool
) -> None:
    found = _findings("aws", kb, _lifecycle("lc", script))
    assert ("MLSTIX-AWS-LC-001" in found) is fires


def _k8s(kind: str, ns: str, name: str, body: dict[str, Any]) -> Any:
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, **body}
    meta = body.get("metadata")
    if isinstance(meta, dict):
        obj["metadata"] = {"name": name, "namespace": ns, **meta}
    plural = {"Service": "services", "Ingress": "ingresses"}[kind]
    return live_resource(
        provider="kubernetes",
        type=kind,
        name=name,
        ident=f"k8s://c/api/v1/namespaces/{ns}/{plural}/{name}",
        attributes=obj,
        language="kubernetes",
        account="c",
        namespace=ns,
    )


def _svc(name: str, ns: str = "kubeflow", **spec: Any) -> Any:
    app = spec.pop("app", name)
    meta = spec.pop("metadata", None)
    body: dict[str, Any] = {"spec": {"selector": {"app": app}, "ports": [{"port": 80}], **spec}}
    if meta:
        body["metadata"] = meta
    return _k8s("Service", ns, name, body)


def test_kubeflow_components_reachable_from_outside(kb: KnowledgeBase) -> None:
    notebook_owner = {
        "ownerReferences": [
            {
                "apiVersion": "kubeflow.org/v1",
                "kind": "Notebook",
                "name": "alice",
                "controller": True,
            }
        ]
    }
    ingress = _k8s(
        "Ingress",
        "kubeflow",
        "dashboard",
        {
            "spec": {
                "rules": [
                    {
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {
                                            "name": "centraldashboard",
                                            "port": {"number": 80},
                                        }
                                    },
                                }
                            ]
                        }
                    }
                ]
            }
        },
    )
    internal = {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}}
    found = _findings(
        "kubernetes",
        kb,
        _svc("ml-pipeline", type="LoadBalancer"),
        _svc("ml-pipeline-ui", type="NodePort"),
        _svc("centraldashboard"),  # ClusterIP, but an Ingress without auth routes to it
        ingress,
        _svc("alice", ns="team-a", app="x", type="LoadBalancer", metadata=notebook_owner),
        # quiet: inside the cluster, internal or restricted load balancers, other services
        _svc("ml-pipeline", ns="kubeflow-staging"),
        _svc("ml-pipeline-ui", ns="kf2", type="LoadBalancer", metadata=internal),
        _svc("ml-pipeline", ns="kf3", type="LoadBalancer", loadBalancerSourceRanges=["10.0.0.0/8"]),
        _svc("web", type="LoadBalancer"),
    )
    assert found["MLSTIX-K8S-KF-001"] == {
        "k8s://c/api/v1/namespaces/kubeflow/services/ml-pipeline",
        "k8s://c/api/v1/namespaces/kubeflow/services/ml-pipeline-ui",
        "k8s://c/api/v1/namespaces/kubeflow/services/centraldashboard",
        "k8s://c/api/v1/namespaces/team-a/services/alice",
    }


def _processing(name: str, **attrs: Any) -> Any:
    return _aws(
        "AWS::SageMaker::ProcessingJob",
        name,
        f"{SM}:processing-job/{name}",
        {"ProcessingJobName": name, **attrs},
    )


def test_processing_jobs_network_and_keys(kb: KnowledgeBase) -> None:
    vpc = {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
    output = {"Outputs": [{"OutputName": "o", "S3Output": {"S3Uri": "s3://b/o"}}]}
    found = _findings(
        "aws",
        kb,
        _processing(
            "open",
            ProcessingResources={"ClusterConfig": {"InstanceType": "ml.m5.xlarge"}},
            ProcessingOutputConfig=output,
        ),
        _processing(
            "locked",
            NetworkConfig={"EnableNetworkIsolation": True, "VpcConfig": vpc},
            ProcessingResources={
                "ClusterConfig": {"InstanceType": "ml.m5.xlarge", "VolumeKmsKeyId": KEY}
            },
            ProcessingOutputConfig={**output, "KmsKeyId": KEY},
        ),
        # local NVMe storage takes no VolumeKmsKeyId, and a job with no outputs needs no key
        _processing(
            "nvme-no-output",
            NetworkConfig={"EnableNetworkIsolation": True, "VpcConfig": vpc},
            ProcessingResources={"ClusterConfig": {"InstanceType": "ml.g5.xlarge"}},
        ),
    )
    for rule in ("MLSTIX-AWS-PRC-001", "MLSTIX-AWS-PRC-002", "MLSTIX-AWS-PRC-003"):
        assert found[rule] == {f"{SM}:processing-job/open"}, rule


def _detector(region: str, **attrs: Any) -> Any:
    return live_resource(
        provider="aws",
        type="AWS::GuardDuty::Detector",
        name=f"d-{region}",
        ident=f"arn:aws:guardduty:{region}:{ACCOUNT}:detector/d-{region}",
        attributes={"Enable": True, "Status": "ENABLED", **attrs},
        language="cloudformation",
        account=ACCOUNT,
        region=region,
    )


def test_guardduty_s3_protection_where_model_buckets_live(kb: KnowledgeBase) -> None:
    off = [{"Name": "S3_DATA_EVENTS", "Status": "DISABLED"}]
    on = [{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}]
    bucket = live_resource(
        provider="aws",
        type="AWS::S3::Bucket",
        name="ml-models-eu",
        ident="arn:aws:s3:::ml-models-eu",
        attributes={"BucketName": "ml-models-eu"},
        language="cloudformation",
        account=ACCOUNT,
        region="eu-west-1",
    )
    found = _findings(
        "aws",
        kb,
        bucket,
        _detector("eu-west-1", Features=off),  # model bucket here, S3 Protection off: finding
        _detector("us-east-1", Features=off),  # no model bucket in the region: quiet
    )
    assert found["MLSTIX-AWS-GD-002"] == {
        f"arn:aws:guardduty:eu-west-1:{ACCOUNT}:detector/d-eu-west-1"
    }
    legacy = {"S3Logs": {"Status": "DISABLED"}}
    found = _findings("aws", kb, bucket, _detector("eu-west-1", DataSources=legacy))
    assert "MLSTIX-AWS-GD-002" in found
    found = _findings("aws", kb, bucket, _detector("eu-west-1", Features=on, DataSources=legacy))
    assert "MLSTIX-AWS-GD-002" not in found  # the feature is what GuardDuty uses today


def _model(name: str, region: str = "us-east-1") -> Any:
    # DescribeModel of a model without EnableNetworkIsolation nor VpcConfig
    arn = f"arn:aws:sagemaker:{region}:{ACCOUNT}:model/{name}"
    attrs = {"ModelName": name, "ModelArn": arn, "PrimaryContainer": {"Image": "i"}}
    return live_resource(
        provider="aws",
        type="AWS::SageMaker::Model",
        name=name,
        ident=arn,
        attributes=attrs,
        language="cloudformation",
        account=ACCOUNT,
        region=region,
    )


SERVERLESS = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}


def test_models_served_only_serverless_are_excused_by_region(kb: KnowledgeBase) -> None:
    """Serverless Inference supports neither network isolation nor a VPC (SM-005/006)."""
    found = _findings(
        "aws",
        kb,
        _model("sl-only"),
        _model("both"),
        _model("idle"),
        _model("sl-only", region="eu-west-1"),  # same name in another region: not served there
        _config(
            "sl",
            variant={"VariantName": "a", "ModelName": "sl-only", "ServerlessConfig": SERVERLESS},
        ),
        _config(
            "sl-both",
            variant={"VariantName": "a", "ModelName": "both", "ServerlessConfig": SERVERLESS},
        ),
        _config(
            "instances",
            variant={"VariantName": "a", "ModelName": "both", "InstanceType": "ml.m5.large"},
        ),
    )
    judged = {
        f"{SM}:model/both",
        f"{SM}:model/idle",
        f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model/sl-only",
    }
    assert found["MLSTIX-AWS-SM-005"] == judged
    assert found["MLSTIX-AWS-SM-006"] == judged
