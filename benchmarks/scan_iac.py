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


_ENDPOINT_MODULE = """variable "name" {}
variable "kms" {
  type    = string
  default = null
}
resource "aws_sagemaker_endpoint_configuration" "this" {
  name        = var.name
  kms_key_arn = var.kms
  production_variants {
    variant_name  = "main"
    model_name    = var.name
    instance_type = "ml.m5.large"
  }
}
output "name" {
  value = aws_sagemaker_endpoint_configuration.this.name
}
"""

_ROOT_MODULE = """variable "env" {
  default = "dev"
}
variable "users" {
  type    = map(object({ instance_type = string, root = optional(bool, false) }))
  default = {}
}
variable "kms_key_arn" {
  type    = string
  default = null
}
variable "model_count" {
  default = 1
}
locals {
  is_prod = var.env == "prod"
  tags    = merge({ team = "ml" }, { env = var.env }, local.is_prod ? { tier = "1" } : {})
}
resource "aws_sagemaker_notebook_instance" "users" {
  for_each               = var.users
  name                   = "nb-${each.key}"
  role_arn               = "arn:aws:iam::111122223333:role/sm"
  instance_type          = each.value.instance_type
  root_access            = each.value.root ? "Enabled" : "Disabled"
  direct_internet_access = local.is_prod ? "Disabled" : "Enabled"
  kms_key_id             = var.kms_key_arn
  subnet_id              = local.is_prod ? "subnet-0abc" : null
  tags                   = local.tags
}
resource "aws_sagemaker_model" "m" {
  count                    = var.model_count
  name                     = "m-${var.env}-${count.index}"
  execution_role_arn       = "arn:aws:iam::111122223333:role/sm"
  enable_network_isolation = local.is_prod
  primary_container {
    image = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/serve:1"
  }
}
module "endpoint" {
  source   = "../../modules/endpoint"
  for_each = toset(["primary", "canary"])
  name     = "ep-${var.env}-${each.key}"
  kms      = var.kms_key_arn
}
"""


def _module_roots(rng: random.Random, roots: int, truth: Truth) -> None:
    """Root modules as platform teams write them: tfvars, for_each over a map of users, count,
    conditionals, merge over locals, null defaults, a local module outside the root folder."""
    (REPO / "modules" / "endpoint").mkdir(parents=True)
    (REPO / "modules" / "endpoint" / "main.tf").write_text(_ENDPOINT_MODULE)
    module_bad = False
    for d in range(roots):
        rel = f"live/env{d:03d}/main.tf"
        path = REPO / rel
        path.parent.mkdir(parents=True)
        path.write_text(_ROOT_MODULE)
        env = rng.choice(["prod", "dev"])
        kms = rng.choice([None, "arn:aws:kms:eu-west-1:111122223333:key/k"])
        users = {f"u{d}x{i}": rng.choice([True, False, None]) for i in range(rng.randint(1, 3))}
        count = rng.randint(0, 2)
        lines = [f'env = "{env}"', f"model_count = {count}", "users = {"]
        for user, root in users.items():
            extra = "" if root is None else f", root = {'true' if root else 'false'}"
            lines.append(f'  {user} = {{ instance_type = "ml.t3.medium"{extra} }}')
        lines.append("}")
        if kms:
            lines.append(f'kms_key_arn = "{kms}"')
        (path.parent / "terraform.tfvars").write_text("\n".join(lines) + "\n")
        for user, root in users.items():
            bad = set()
            if env != "prod":
                bad |= {"MLSTIX-AWS-SM-001", "MLSTIX-AWS-SM-004"}
            if root:
                bad.add("MLSTIX-AWS-SM-002")
            if kms is None:
                bad.add("MLSTIX-AWS-SM-003")
            truth[(rel, f'users["{user}"]')] = bad
        for i in range(count):
            truth[(rel, f"m[{i}]")] = set() if env == "prod" else {"MLSTIX-AWS-SM-005"}
        module_bad |= kms is None
    truth[("modules/endpoint/main.tf", "this")] = {"MLSTIX-AWS-SM-007"} if module_bad else set()


def generate(
    tf_dirs: int, cfn_files: int, per_file: int, module_roots: int = 0
) -> tuple[Truth, int]:
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
    if module_roots:
        _module_roots(rng, module_roots, truth)
    lines = sum(len(p.read_text().splitlines()) for p in REPO.rglob("*") if p.is_file())
    return truth, lines


# -- running the tools ------------------------------------------------------------------------


def ensure_checkov() -> Path:
    exe = VENV / "bin" / "checkov"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "checkov"], check=True)
    return exe


def _local_name(address: str) -> str:
    """``module.x["a"].aws_t.users["bob"]`` → ``users["bob"]``; ``AWS::X::Y Name`` → ``Name``."""
    address = address.replace(" ", ".")
    head, bracket, key = address.partition("[")
    return head.rsplit(".", 1)[-1] + bracket + key if "." not in key else address.rsplit(".", 1)[-1]


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
        found[f["rule_id"]].add((loc["path"].removeprefix("./"), _local_name(loc["resource"])))
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
                found[rule].add((check["file_path"].lstrip("/"), _local_name(check["resource"])))
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
            tf = sum(1 for f, _ in fn_theirs if f.endswith(".tf"))
            example = sorted(fn_theirs)[0]
            print(
                f"    checkov misses {tf} in Terraform, {len(fn_theirs) - tf} in CloudFormation;"
                f" e.g. {example[0]} {example[1]}"
            )


def compare_tfparse(roots: int) -> None:
    """tfparse (cloud-custodian, on defsec/trivy's evaluator) against mlstix's evaluator on the
    root modules of the corpus: time, instances found, and what each makes of a null default."""
    try:
        import tfparse  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        print("\ntfparse is not installed (pip install 'mlstix[bench-iac]'): comparison skipped")
        return
    from mlstix.scan.iac import collect

    folders = [REPO / "live" / f"env{d:03d}" for d in range(roots)]
    start = time.perf_counter()
    theirs = [tfparse.load_from_path(str(f), vars_paths=["terraform.tfvars"]) for f in folders]
    t_tfparse = time.perf_counter() - start
    start = time.perf_counter()
    ours = [collect([f]) for f in folders]
    t_mlstix = time.perf_counter() - start
    nb = "aws_sagemaker_notebook_instance"
    their_nbs = [r for doc in theirs for r in doc.get(nb, [])]
    our_nbs = [r for found in ours for r in found.resources if r.type == nb]
    their_null = sum(1 for r in their_nbs if "kms_key_id" not in r or r["kms_key_id"] is None)
    our_null = sum(1 for r in our_nbs if "kms_key_id" not in r.attributes)
    endpoints = "aws_sagemaker_endpoint_configuration"
    print(f"\n{roots} root modules, evaluated in-process:")
    print(
        f"  tfparse {getattr(tfparse, '__version__', '')}: {t_tfparse:6.2f} s, "
        f"{len(their_nbs)} notebook instances, {their_null} with kms_key_id null/absent, "
        f"{sum(len(doc.get(endpoints, [])) for doc in theirs)} module endpoint configs"
    )
    print(
        f"  mlstix:  {t_mlstix:6.2f} s, {len(our_nbs)} notebook instances, "
        f"{our_null} with kms_key_id null/absent, "
        f"{sum(1 for f in ours for r in f.resources if r.type == endpoints)} "
        "module endpoint configs"
    )


def big_file(resources: int) -> None:
    """One Terraform file of ``resources`` S3 buckets: mlstix's time and peak memory."""
    import resource

    folder = WORK / "big"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with (folder / "main.tf").open("w") as out:
        for i in range(resources):
            out.write(f'resource "aws_s3_bucket" "b{i}" {{\n  bucket = "m{i}"\n}}\n')
    size = (folder / "main.tf").stat().st_size
    exe = Path(sys.executable).parent / "mlstix"
    start = time.perf_counter()
    subprocess.run(
        [str(exe), "scan", "iac", str(folder), "-j", "1", "--format", "json", "-o", os.devnull],
        check=False,
        capture_output=True,
    )
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"\none file of {resources} resources ({size / 1e6:.1f} MB): mlstix {elapsed:.1f} s, "
        f"peak RSS {peak:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tf-dirs", type=int, default=150)
    parser.add_argument("--cfn-files", type=int, default=100)
    parser.add_argument("--per-file", type=int, default=24)
    parser.add_argument(
        "--module-roots",
        type=int,
        default=40,
        help="root modules with tfvars, for_each, count, conditionals and a local module",
    )
    parser.add_argument(
        "--big", type=int, default=0, metavar="N", help="also time one file of N resources"
    )
    args = parser.parse_args()
    truth, lines = generate(args.tf_dirs, args.cfn_files, args.per_file, args.module_roots)
    files = args.tf_dirs + args.cfn_files + 2 * args.module_roots + 1
    print(
        f"repository: {files} files, {lines} lines, {len(truth)} ML resources "
        f"(+ companions) in {REPO}"
    )
    if args.big:  # first: the peak RSS of waited-for children is then mlstix's alone
        big_file(args.big)
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
    if args.module_roots:
        compare_tfparse(args.module_roots)


if __name__ == "__main__":
    main()
