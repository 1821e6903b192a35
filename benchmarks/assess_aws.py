"""``mlstix assess aws`` against prowler on the same seeded account, in one run.

Seeds a moto server (behind the tests' recording proxy, tests/assess/aws_support.py) with
SageMaker notebooks, models, endpoint configurations and training jobs, S3 model buckets, IAM
execution roles and ECR repositories across regions, half of each misconfigured in known ways
(the seeded truth). Then runs mlstix (in-process, library entry point) and prowler (its own
virtualenv, ``--prowler PATH``; not a project dependency) with the SageMaker, S3, IAM and ECR
checks that judge the same settings, and prints per tool: wall time, API calls (requests the
proxy saw), and seeded misconfigurations found / missed, with the ratio of times.

    .venv/bin/python benchmarks/assess_aws.py --prowler /tmp/prowler-venv/bin/prowler
    .venv/bin/python benchmarks/assess_aws.py --scale 2 --regions us-east-1,eu-west-1,ap-south-1

Both tools go through the same proxy, so moto's gaps are filled the same way for both. S3
Control prefixes the account id to the endpoint host, which no loopback resolver knows; this
process resolves such names to loopback for mlstix, prowler's subprocess cannot, so neither
tool is scored on account-level settings.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.assess.aws_support import local_aws

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)

# seeded misconfiguration kind -> (mlstix rule, prowler check)
KINDS = {
    "nb-internet": (
        "MLSTIX-AWS-SM-001",
        "sagemaker_notebook_instance_without_direct_internet_access_configured",
    ),
    "nb-root": ("MLSTIX-AWS-SM-002", "sagemaker_notebook_instance_root_access_disabled"),
    "nb-kms": ("MLSTIX-AWS-SM-003", "sagemaker_notebook_instance_encryption_enabled"),
    "nb-vpc": ("MLSTIX-AWS-SM-004", "sagemaker_notebook_instance_vpc_settings_configured"),
    "model-isolation": ("MLSTIX-AWS-SM-005", "sagemaker_models_network_isolation_enabled"),
    "model-vpc": ("MLSTIX-AWS-SM-006", "sagemaker_models_vpc_settings_configured"),
    "epc-kms": ("MLSTIX-AWS-SM-007", "sagemaker_endpoint_config_kms_encryption_enabled"),
    "train-isolation": ("MLSTIX-AWS-TRN-001", "sagemaker_training_jobs_network_isolation_enabled"),
    "train-ice": (
        "MLSTIX-AWS-TRN-002",
        "sagemaker_training_jobs_intercontainer_encryption_enabled",
    ),
    "train-vpc": ("MLSTIX-AWS-TRN-003", "sagemaker_training_jobs_vpc_settings_configured"),
    "train-kms": (
        "MLSTIX-AWS-TRN-004",
        "sagemaker_training_jobs_volume_and_output_encryption_enabled",
    ),
    "bucket-versioning": ("MLSTIX-AWS-S3-001", "s3_bucket_object_versioning"),
    "bucket-lock": ("MLSTIX-AWS-S3-002", "s3_bucket_object_lock"),
    "bucket-kms": ("MLSTIX-AWS-S3-003", "s3_bucket_kms_encryption"),
    "bucket-tls": ("MLSTIX-AWS-S3-005", "s3_bucket_secure_transport_policy"),
    "ecr-mutable": ("MLSTIX-AWS-ECR-001", "ecr_repositories_tag_immutability"),
    "ecr-scan": ("MLSTIX-AWS-ECR-002", "ecr_repositories_scan_images_on_push_enabled"),
}
SUBNET = {"SecurityGroupIds": ["sg-0a1b2c3d"], "Subnets": ["subnet-0a1b2c3d"]}


def seed(session: Any, regions: list[str], scale: int) -> tuple[set[tuple[str, str]], int]:
    """Create the account; return the seeded truth {(kind, arn)} and the resource count."""
    truth: set[tuple[str, str]] = set()
    count = 0
    iam = session.client("iam", region_name="us-east-1")
    kms = session.client("kms", region_name="us-east-1")
    key = kms.create_key(Description="ml")["KeyMetadata"]["Arn"]
    roles = []
    for i in range(20 * scale):
        name = f"sm-exec-{i:03d}"
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        action = "sagemaker:*" if i % 2 == 0 else "sagemaker:DescribeModel"
        iam.put_role_policy(
            RoleName=name,
            PolicyName="p",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
                }
            ),
        )
        roles.append(arn)
        count += 1
    s3 = session.client("s3", region_name="us-east-1")
    for i in range(30 * scale):
        name = f"ml-models-{i:03d}"
        good = i % 2 == 1
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=good)
        count += 1
        arn = f"arn:aws:s3:::{name}"
        if good:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": key,
                            }
                        }
                    ]
                },
            )
            s3.put_bucket_policy(
                Bucket=name,
                Policy=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [arn, f"{arn}/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    }
                ),
            )
        else:
            truth |= {
                (k, arn) for k in ("bucket-versioning", "bucket-lock", "bucket-kms", "bucket-tls")
            }
    for r, region in enumerate(regions):
        ecr = session.client("ecr", region_name=region)
        repos = []
        for i in range(5 * scale):
            good = i % 2 == 1
            name = f"inference-{r}-{i:03d}"
            repo = ecr.create_repository(
                repositoryName=name,
                imageTagMutability="IMMUTABLE" if good else "MUTABLE",
                imageScanningConfiguration={"scanOnPush": good},
            )["repository"]
            repos.append(repo["repositoryUri"])
            count += 1
            if not good:
                truth |= {
                    ("ecr-mutable", repo["repositoryArn"]),
                    ("ecr-scan", repo["repositoryArn"]),
                }
        sm = session.client("sagemaker", region_name=region)
        for i in range(10 * scale):
            good = i % 2 == 1
            name = f"nb-{r}-{i:03d}"
            extra: dict[str, Any] = {}
            if good:
                extra = {
                    "KmsKeyId": key,
                    "SubnetId": "subnet-0a1b2c3d",
                    "SecurityGroupIds": ["sg-0a1b2c3d"],
                    "DirectInternetAccess": "Disabled",
                    "RootAccess": "Disabled",
                }
            arn = sm.create_notebook_instance(
                NotebookInstanceName=name,
                InstanceType="ml.t3.medium",
                RoleArn=roles[i % len(roles)],
                **extra,
            )["NotebookInstanceArn"]
            count += 1
            if not good:
                truth |= {(k, arn) for k in ("nb-internet", "nb-root", "nb-kms", "nb-vpc")}
        for i in range(10 * scale):
            good = i % 2 == 1
            extra = {"EnableNetworkIsolation": True, "VpcConfig": SUBNET} if good else {}
            arn = sm.create_model(
                ModelName=f"model-{r}-{i:03d}",
                PrimaryContainer={
                    "Image": f"{repos[i % len(repos)]}:1",
                    "ModelDataUrl": f"s3://ml-models-{i % (30 * scale):03d}/m.tar.gz",
                },
                ExecutionRoleArn=roles[i % len(roles)],
                **extra,
            )["ModelArn"]
            count += 1
            if not good:
                truth |= {("model-isolation", arn), ("model-vpc", arn)}
        for i in range(5 * scale):
            good = i % 2 == 1
            arn = sm.create_endpoint_config(
                EndpointConfigName=f"epc-{r}-{i:03d}",
                ProductionVariants=[
                    {
                        "VariantName": "all",
                        "ModelName": f"model-{r}-{i:03d}",
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                    }
                ],
                **({"KmsKeyId": key} if good else {}),
            )["EndpointConfigArn"]
            count += 1
            if not good:
                truth.add(("epc-kms", arn))
        for i in range(5 * scale):
            good = i % 2 == 1
            extra = {}
            output: dict[str, Any] = {"S3OutputPath": f"s3://ml-models-{i:03d}/out"}
            resources: dict[str, Any] = {
                "InstanceType": "ml.m5.large",
                "InstanceCount": 1,
                "VolumeSizeInGB": 10,
            }
            if good:
                extra = {
                    "EnableNetworkIsolation": True,
                    "EnableInterContainerTrafficEncryption": True,
                    "VpcConfig": SUBNET,
                }
                output["KmsKeyId"] = key
                resources["VolumeKmsKeyId"] = key
            arn = sm.create_training_job(
                TrainingJobName=f"train-{r}-{i:03d}",
                AlgorithmSpecification={
                    "TrainingImage": f"{repos[0]}:train",
                    "TrainingInputMode": "File",
                },
                RoleArn=roles[i % len(roles)],
                OutputDataConfig=output,
                ResourceConfig=resources,
                StoppingCondition={"MaxRuntimeInSeconds": 3600},
                **extra,
            )["TrainingJobArn"]
            count += 1
            if not good:
                truth |= {
                    (k, arn) for k in ("train-isolation", "train-ice", "train-vpc", "train-kms")
                }
    return truth, count


def run_mlstix(regions: list[str]) -> tuple[float, set[tuple[str, str]], int]:
    from mlstix.assess import evaluate_inventory
    from mlstix.assess.aws import AwsOptions, collect_aws
    from mlstix.kb.load import load_kb

    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".127.0.0.1"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    kb = load_kb()
    start = time.perf_counter()
    inventory, _ = collect_aws(AwsOptions(regions=tuple(regions), jobs=8))
    report = evaluate_inventory(inventory, kb)
    elapsed = time.perf_counter() - start
    socket.getaddrinfo = real  # type: ignore[assignment]
    by_rule = {rule: kind for kind, (rule, _) in KINDS.items()}
    found = {(by_rule[f.rule_id], f.location.path) for f in report.findings if f.rule_id in by_rule}
    return elapsed, found, inventory.calls


def run_prowler(prowler: str, regions: list[str], url: str) -> tuple[float, set[tuple[str, str]]]:
    checks = sorted({check for _, check in KINDS.values()})
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "AWS_ENDPOINT_URL": url}
        cmd = [
            prowler,
            "aws",
            "--checks",
            *checks,
            "--region",
            *regions,
            "--output-formats",
            "json-ocsf",
            "--output-directory",
            out,
            "--no-banner",
            "--ignore-exit-code-3",
        ]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
        elapsed = time.perf_counter() - start
        by_check = {check: kind for kind, (_, check) in KINDS.items()}
        found: set[tuple[str, str]] = set()
        files = list(Path(out).rglob("*.ocsf.json"))
        if not files:
            print(f"prowler wrote no findings (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        for f in files:
            for item in json.loads(f.read_text() or "[]"):
                if item.get("status_code") != "FAIL":
                    continue
                check = (item.get("metadata") or {}).get("event_code") or ""
                if check not in by_check:
                    continue
                for res in item.get("resources") or []:
                    found.add((by_check[check], str(res.get("uid", ""))))
    return elapsed, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prowler", help="prowler executable (its own virtualenv)")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--regions", default="us-east-1,eu-west-1,ap-south-1")
    args = parser.parse_args()
    regions = args.regions.split(",")
    import logging

    logging.getLogger("werkzeug").disabled = True  # moto's tracebacks for APIs it lacks
    with local_aws() as (url, recorded):
        os.environ.update(
            AWS_ENDPOINT_URL=url,
            AWS_ACCESS_KEY_ID="AKIABENCHMARK000001",
            AWS_SECRET_ACCESS_KEY="benchmark",
            AWS_DEFAULT_REGION=regions[0],
            AWS_EC2_METADATA_DISABLED="true",
        )
        import boto3

        t = time.perf_counter()
        truth, count = seed(boto3.Session(), regions, args.scale)
        print(
            f"seeded {count} resources in {len(regions)} regions ({len(truth)} "
            f"misconfigurations) in {time.perf_counter() - t:.1f} s"
        )
        rows = []
        before = len(recorded.seen)
        m_time, m_found, m_calls = run_mlstix(regions)
        rows.append(("mlstix", m_time, len(recorded.seen) - before, m_found))
        if args.prowler:
            before = len(recorded.seen)
            p_time, p_found = run_prowler(args.prowler, regions, url)
            rows.append(("prowler", p_time, len(recorded.seen) - before, p_found))
    print(f"\n{'tool':<8} {'wall s':>8} {'API calls':>10} {'found':>7} {'missed':>7} {'extra':>6}")
    for name, elapsed, calls, found in rows:
        hit = found & truth
        print(
            f"{name:<8} {elapsed:>8.2f} {calls:>10} {len(hit):>4}/{len(truth):<3}"
            f"{len(truth - hit):>6} {len(found - truth):>6}"
        )
    if len(rows) == 2:
        print(
            f"\nprowler / mlstix wall time: {rows[1][1] / rows[0][1]:.1f}x; "
            f"API calls: {rows[1][2] / max(rows[0][2], 1):.1f}x"
        )
        missed = {k for k, _ in truth - rows[1][3]}
        if missed:
            print(f"prowler missed kinds: {sorted(missed)}")
    missed = {k for k, _ in truth - rows[0][3]}
    if missed:
        print(f"mlstix missed kinds: {sorted(missed)}")
    print(f"(mlstix counted {m_calls} calls itself)")


if __name__ == "__main__":
    main()
