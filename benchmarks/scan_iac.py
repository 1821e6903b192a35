"""Benchmark: ``mlstix scan iac`` against checkov on a generated ML infrastructure repository.

Run by hand (never in the test suite), from the repository root:

    .venv/bin/python benchmarks/scan_iac.py [--tf-dirs 150] [--cfn-files 100] [--per-file 24]

It writes a repository of Terraform folders and CloudFormation templates (SageMaker notebooks,
models, endpoint configurations, ECR repositories, S3 model buckets with their companion
resources; a deterministic mix of secure, insecure and default settings, with variables and
short-form intrinsic tags) under benchmarks/.work/iac-repo, pip-installs checkov into
benchmarks/.work/venv when it is missing, times both tools on the same files in one run, and
prints the ratio. For the rules both tools have, it compares each tool's findings with the
generator's ground truth (what a resource really is, provider defaults included) and prints
false negatives and false positives per rule.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"
REPO = WORK / "iac-repo"
VENV = WORK / "venv"

# checkov check id -> mlstix rule id (ids read from checkov's own checks; see --list-shared)
SHARED = {
    "CKV_AWS_122": "MLSTIX-AWS-SM-001",  # notebook direct internet access
    "CKV_AWS_307": "MLSTIX-AWS-SM-002",  # notebook root access
    "CKV_AWS_22": "MLSTIX-AWS-SM-003",  # notebook KMS
    "CKV_AWS_306": "MLSTIX-AWS-SM-004",  # notebook in a VPC
    "CKV_AWS_370": "MLSTIX-AWS-SM-005",  # model network isolation
    "CKV_AWS_98": "MLSTIX-AWS-SM-007",  # endpoint configuration KMS
    "CKV_AWS_51": "MLSTIX-AWS-ECR-001",  # ECR immutable tags
    "CKV_AWS_163": "MLSTIX-AWS-ECR-002",  # ECR scan on push
    "CKV_AWS_21": "MLSTIX-AWS-S3-001",  # S3 versioning
    "CKV_AWS_145": "MLSTIX-AWS-S3-003",  # S3 default encryption with KMS
}


# -- the generated repository ------------------------------------------------------------------

Truth = dict[tuple[str, str], set[str]]  # (file, resource name) -> rule ids it really fails


def _tf_file(rng: random.Random, d: int, per_file: int, truth: Truth, rel: str) -> str:
    out = [
        'variable "internet" {\n  default = "Enabled"\n}\n',
        'variable "kms" {\n  default = "arn:aws:kms:eu-west-1:111122223333:key/k"\n}\n',
        'resource "aws_kms_key" "ml" {}\n',
    ]
    for i in range(per_file):
        kind = i % 6
        name = f"r{d}_{i}"
        bad: set[str] = set()
        if kind == 0:
            dia = rng.choice([None, '"Enabled"', '"Disabled"', "var.internet"])
            root = rng.choice([None, '"Enabled"', '"Disabled"'])
            kms = rng.choice([None, "aws_kms_key.ml.arn", "var.kms"])
            subnet = rng.choice([None, '"subnet-0abc"'])
            lines = [
                f'  name = "nb-{d}-{i}"',
                '  role_arn = "arn:aws:iam::1:role/sm"',
                '  instance_type = "ml.t3.medium"',
            ]
            if dia:
                lines.append(f"  direct_internet_access = {dia}")
            if root:
                lines.append(f"  root_access = {root}")
            if kms:
                lines.append(f"  kms_key_id = {kms}")
            if subnet:
                lines.append(f"  subnet_id = {subnet}")
            if dia != '"Disabled"':
                bad.add("MLSTIX-AWS-SM-001")
            if root != '"Disabled"':
                bad.add("MLSTIX-AWS-SM-002")
            if not kms:
                bad.add("MLSTIX-AWS-SM-003")
            if not subnet:
                bad.add("MLSTIX-AWS-SM-004")
            out.append(
                f'resource "aws_sagemaker_notebook_instance" "{name}" {{\n'
                + "\n".join(lines)
                + "\n}\n"
            )
        elif kind == 1:
            iso = rng.choice([None, "true", "false"])
            line = f"  enable_network_isolation = {iso}\n" if iso else ""
            if iso != "true":
                bad.add("MLSTIX-AWS-SM-005")
            out.append(
                f'resource "aws_sagemaker_model" "{name}" {{\n  name = "m-{d}-{i}"\n'
                f'  execution_role_arn = "arn:aws:iam::1:role/sm"\n{line}'
                '  primary_container {\n    image = "1.dkr.ecr.eu-west-1.amazonaws.com/s:1"\n'
                "  }\n}\n"
            )
        elif kind == 2:
            kms = rng.choice([None, "aws_kms_key.ml.arn"])
            if not kms:
                bad.add("MLSTIX-AWS-SM-007")
            line = f"  kms_key_arn = {kms}\n" if kms else ""
            out.append(
                f'resource "aws_sagemaker_endpoint_configuration" "{name}" {{\n'
                f'  name = "ec-{d}-{i}"\n{line}  production_variants {{\n'
                '    variant_name = "v"\n    model_name = "m"\n  }\n}\n'
            )
        elif kind == 3:
            mut = rng.choice([None, '"MUTABLE"', '"IMMUTABLE"'])
            scan = rng.choice([None, "true", "false"])
            body = f'  name = "repo-{d}-{i}"\n'
            if mut:
                body += f"  image_tag_mutability = {mut}\n"
            if scan:
                body += f"  image_scanning_configuration {{\n    scan_on_push = {scan}\n  }}\n"
            if mut != '"IMMUTABLE"':
                bad.add("MLSTIX-AWS-ECR-001")
            if scan != "true":
                bad.add("MLSTIX-AWS-ECR-002")
            out.append(f'resource "aws_ecr_repository" "{name}" {{\n{body}}}\n')
        else:
            versioning = rng.choice([None, "Enabled", "Suspended"])
            sse = rng.choice([None, "aws:kms", "AES256"])
            out.append(
                f'resource "aws_s3_bucket" "{name}" {{\n  bucket = "acme-models-{d}-{i}"\n}}\n'
            )
            if versioning:
                out.append(
                    f'resource "aws_s3_bucket_versioning" "{name}_v" {{\n'
                    f"  bucket = aws_s3_bucket.{name}.id\n  versioning_configuration {{\n"
                    f'    status = "{versioning}"\n  }}\n}}\n'
                )
            if sse:
                out.append(
                    f'resource "aws_s3_bucket_server_side_encryption_configuration" "{name}_e" {{\n'
                    f"  bucket = aws_s3_bucket.{name}.id\n  rule {{\n"
                    "    apply_server_side_encryption_by_default {\n"
                    f'      sse_algorithm = "{sse}"\n'
                    + ("      kms_master_key_id = aws_kms_key.ml.arn\n" if sse == "aws:kms" else "")
                    + "    }\n  }\n}\n"
                )
            if versioning != "Enabled":
                bad.add("MLSTIX-AWS-S3-001")
            if sse != "aws:kms":
                bad.add("MLSTIX-AWS-S3-003")
        truth[(rel, name)] = bad
    return "\n".join(out)


def _cfn_file(rng: random.Random, d: int, per_file: int, truth: Truth, rel: str) -> str:
    out = [
        'AWSTemplateFormatVersion: "2010-09-09"',
        "Parameters:",
        "  Internet: {Type: String, Default: Enabled}",
        "Resources:",
        "  Key: {Type: AWS::KMS::Key}",
        "  Role:",
        "    Type: AWS::IAM::Role",
        "    Properties: {AssumeRolePolicyDocument: {}}",
    ]
    for i in range(per_file):
        kind = i % 5
        name = f"R{d}x{i}"
        bad: set[str] = set()
        if kind == 0:
            dia = rng.choice([None, "Enabled", "Disabled", "!Ref Internet"])
            root = rng.choice([None, "Enabled", "Disabled"])
            kms = rng.choice([None, "!Ref Key", "!GetAtt Key.Arn"])
            subnet = rng.choice([None, "subnet-0abc"])
            props = ["InstanceType: ml.t3.medium", "RoleArn: !GetAtt Role.Arn"]
            for key, value in (
                ("DirectInternetAccess", dia),
                ("RootAccess", root),
                ("KmsKeyId", kms),
                ("SubnetId", subnet),
            ):
                if value:
                    props.append(f"{key}: {value}")
            if dia != "Disabled":
                bad.add("MLSTIX-AWS-SM-001")
            if root != "Disabled":
                bad.add("MLSTIX-AWS-SM-002")
            if not kms:
                bad.add("MLSTIX-AWS-SM-003")
            if not subnet:
                bad.add("MLSTIX-AWS-SM-004")
            out += [f"  {name}:", "    Type: AWS::SageMaker::NotebookInstance", "    Properties:"]
            out += [f"      {p}" for p in props]
        elif kind == 1:
            iso = rng.choice([None, "true", "false"])
            if iso != "true":
                bad.add("MLSTIX-AWS-SM-005")
            out += [
                f"  {name}:",
                "    Type: AWS::SageMaker::Model",
                "    Properties:",
                "      ExecutionRoleArn: !GetAtt Role.Arn",
                "      PrimaryContainer: {Image: !Sub '${AWS::AccountId}.dkr.ecr/s:1'}",
            ]
            if iso:
                out.append(f"      EnableNetworkIsolation: {iso}")
        elif kind == 2:
            kms = rng.choice([None, "!Ref Key"])
            if not kms:
                bad.add("MLSTIX-AWS-SM-007")
            out += [
                f"  {name}:",
                "    Type: AWS::SageMaker::EndpointConfig",
                "    Properties:",
                "      ProductionVariants: [{VariantName: v, ModelName: m,"
                " InitialInstanceCount: 1, InstanceType: ml.m5.large}]",
            ]
            if kms:
                out.append(f"      KmsKeyId: {kms}")
        elif kind == 3:
            mut = rng.choice([None, "MUTABLE", "IMMUTABLE"])
            scan = rng.choice([None, "true", "false"])
            if mut != "IMMUTABLE":
                bad.add("MLSTIX-AWS-ECR-001")
            if scan != "true":
                bad.add("MLSTIX-AWS-ECR-002")
            out += [
                f"  {name}:",
                "    Type: AWS::ECR::Repository",
                "    Properties:",
                f"      RepositoryName: repo-{d}-{i}",
            ]
            if mut:
                out.append(f"      ImageTagMutability: {mut}")
            if scan:
                out.append(f"      ImageScanningConfiguration: {{ScanOnPush: {scan}}}")
        else:
            versioning = rng.choice([None, "Enabled", "Suspended"])
            sse = rng.choice([None, "aws:kms", "AES256"])
            if versioning != "Enabled":
                bad.add("MLSTIX-AWS-S3-001")
            if sse != "aws:kms":
                bad.add("MLSTIX-AWS-S3-003")
            out += [
                f"  {name}:",
                "    Type: AWS::S3::Bucket",
                "    Properties:",
                f"      BucketName: !Sub 'acme-models-${{AWS::AccountId}}-{d}-{i}'",
            ]
            if versioning:
                out.append(f"      VersioningConfiguration: {{Status: {versioning}}}")
            if sse:
                out.append("      BucketEncryption:")
                out.append("        ServerSideEncryptionConfiguration:")
                out.append(f"        - ServerSideEncryptionByDefault: {{SSEAlgorithm: '{sse}'}}")
        truth[(rel, name)] = bad
    return "\n".join(out) + "\n"


def generate(tf_dirs: int, cfn_files: int, per_file: int) -> tuple[Truth, int]:
    shutil.rmtree(REPO, ignore_errors=True)
    rng = random.Random(20261126)
    truth: Truth = {}
    for d in range(tf_dirs):
        rel = f"terraform/stack{d:03d}/main.tf"
        path = REPO / rel
        path.parent.mkdir(parents=True)
        path.write_text(_tf_file(rng, d, per_file, truth, rel))
    for d in range(cfn_files):
        rel = f"cloudformation/stack{d:03d}.yaml"
        path = REPO / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_cfn_file(rng, d, per_file, truth, rel))
    lines = sum(len(p.read_text().splitlines()) for p in REPO.rglob("*") if p.is_file())
    return truth, lines


# -- running the tools ------------------------------------------------------------------------


def ensure_checkov() -> Path:
    exe = VENV / "bin" / "checkov"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "checkov"], check=True)
    return exe


def run_mlstix(jobs: int) -> tuple[float, dict[str, set[tuple[str, str]]]]:
    exe = Path(sys.executable).parent / "mlstix"
    out = WORK / f"mlstix-j{jobs}.json"
    start = time.perf_counter()
    proc = subprocess.run(
        [str(exe), "scan", "iac", ".", "--format", "json", "-o", str(out), "-j", str(jobs)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"mlstix failed: {proc.stderr}")
    report = json.loads(out.read_text())
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for f in report["findings"]:
        loc = f["location"]
        name = loc["resource"].replace(" ", ".").rsplit(".", 1)[-1]
        found[f["rule_id"]].add((loc["path"].removeprefix("./"), name))
    return elapsed, found


def run_checkov(exe: Path, only_shared: bool) -> tuple[float, dict[str, set[tuple[str, str]]]]:
    cmd = [
        str(exe),
        "-d",
        ".",
        "--framework",
        "terraform",
        "cloudformation",
        "-o",
        "json",
        "--quiet",
        "--compact",
        "--skip-download",
    ]
    if only_shared:
        cmd += ["--check", ",".join(SHARED)]
    env = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",
        "CHECKOV_EXPERIMENTAL_IMAGE_REFERENCING": "False",
    }
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        sys.exit(f"checkov output is not JSON (exit {proc.returncode}): {proc.stderr[-2000:]}")
    reports = data if isinstance(data, list) else [data]
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for rep in reports:
        for check in rep.get("results", {}).get("failed_checks", []):
            rule = SHARED.get(check["check_id"])
            if rule:
                name = check["resource"].rsplit(".", 1)[-1]
                found[rule].add((check["file_path"].lstrip("/"), name))
    return elapsed, found


def compare(
    truth: Truth, mlstix: dict[str, set[tuple[str, str]]], checkov: dict[str, set[tuple[str, str]]]
) -> None:
    print(
        f"\n{'rule (checkov id)':<36} {'truly bad':>9} | {'mlstix FN':>9} {'FP':>5} | "
        f"{'checkov FN':>10} {'FP':>5} | {'mlstix FN not in checkov FN':>27}"
    )
    by_id = {v: k for k, v in SHARED.items()}
    for rule in sorted(by_id):
        bad = {key for key, rules in truth.items() if rule in rules}
        ours, theirs = mlstix.get(rule, set()), checkov.get(rule, set())
        fn_ours, fn_theirs = bad - ours, bad - theirs
        print(
            f"{rule + ' (' + by_id[rule] + ')':<36} {len(bad):>9} | {len(fn_ours):>9} "
            f"{len(ours - bad):>5} | {len(fn_theirs):>10} {len(theirs - bad):>5} | "
            f"{len(fn_ours - fn_theirs):>27}"
        )
        if fn_theirs:
            tf = sum(1 for f, _ in fn_theirs if f.startswith("terraform/"))
            example = sorted(fn_theirs)[0]
            print(
                f"    checkov misses {tf} in Terraform, {len(fn_theirs) - tf} in CloudFormation;"
                f" e.g. {example[0]} {example[1]}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tf-dirs", type=int, default=150)
    parser.add_argument("--cfn-files", type=int, default=100)
    parser.add_argument("--per-file", type=int, default=24)
    args = parser.parse_args()
    truth, lines = generate(args.tf_dirs, args.cfn_files, args.per_file)
    files = args.tf_dirs + args.cfn_files
    print(
        f"repository: {files} files, {lines} lines, {len(truth)} ML resources "
        f"(+ companions) in {REPO}"
    )
    checkov = ensure_checkov()
    version = subprocess.run([str(checkov), "--version"], capture_output=True, text=True)
    print(f"checkov {version.stdout.strip()}; mlstix from {sys.executable}")
    cores = os.cpu_count() or 1
    t1, ours = run_mlstix(1)
    tn, _ = run_mlstix(cores)
    print(f"mlstix scan iac -j 1:     {t1:8.2f} s")
    print(f"mlstix scan iac -j {cores}:     {tn:8.2f} s")
    tc_all, theirs = run_checkov(checkov, only_shared=False)
    print(
        f"checkov (all checks):     {tc_all:8.2f} s   ratio {tc_all / t1:5.1f}x (-j 1), "
        f"{tc_all / tn:5.1f}x (-j {cores})"
    )
    tc_shared, _ = run_checkov(checkov, only_shared=True)
    print(
        f"checkov (--check shared): {tc_shared:8.2f} s   ratio {tc_shared / t1:5.1f}x (-j 1), "
        f"{tc_shared / tn:5.1f}x (-j {cores})"
    )
    compare(truth, ours, theirs)


if __name__ == "__main__":
    main()
