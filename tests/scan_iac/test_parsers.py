"""Parsers: each input language becomes resources with resolved values, files and lines; bad
files become error entries and the scan goes on."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import pytest

from mlstix.scan.iac import collect
from mlstix.scan.iac._values import Expr
from mlstix.scan.rules.iac import default_registry, evaluate
from tests.scan_iac.files import write_tree as _write

FIXTURES = Path(__file__).parent / "fixtures"


def _by_name(found: object) -> dict[str, object]:
    return {r.name: r for r in found.resources}  # type: ignore[attr-defined]


def _rule_hits(found: object, rule_id: str) -> set[str]:
    registry = default_registry()
    findings = evaluate(registry, [registry.get(rule_id)], found.resources, None)  # type: ignore[attr-defined]
    return {f.location.resource or "" for f in findings}


def test_terraform_variables_locals_tfvars_and_lines(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
variable "access" {
  default = "Enabled"
}
variable "root" {
  default = "Enabled"
}
variable "no_default" {}
locals {
  prefix = "nb-${var.access}"
  kms    = local.chain
  chain  = "arn:aws:kms:eu-west-1:1:key/k"
}

resource "aws_sagemaker_notebook_instance" "nb" {
  name                   = "${local.prefix}-1"
  role_arn               = "r"
  instance_type          = "ml.t3.medium"
  direct_internet_access = var.access
  root_access            = var.root
  kms_key_id             = local.kms
  subnet_id              = var.no_default
}
""",
            "terraform.tfvars": 'root = "Disabled"\n',
        },
    )
    found = collect([tmp_path])
    assert not found.errors
    nb = _by_name(found)["nb"]
    assert nb.line == 15  # type: ignore[attr-defined]
    attrs = nb.attributes  # type: ignore[attr-defined]
    assert attrs["name"] == "nb-Enabled-1"
    assert attrs["direct_internet_access"] == "Enabled"
    assert attrs["root_access"] == "Disabled"  # terraform.tfvars wins over the default
    assert attrs["kms_key_id"] == "arn:aws:kms:eu-west-1:1:key/k"
    assert isinstance(attrs["subnet_id"], Expr)
    assert _rule_hits(found, "MLSTIX-AWS-SM-001") == {"aws_sagemaker_notebook_instance.nb"}
    assert _rule_hits(found, "MLSTIX-AWS-SM-002") == set()
    assert _rule_hits(found, "MLSTIX-AWS-SM-004") == set()  # unknown is not reported


def test_terraform_local_module_is_followed_with_its_arguments(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "root/main.tf": """
module "open" {
  source   = "../modules/notebook"
  internet = "Enabled"
}
module "closed" {
  source   = "../modules/notebook"
  internet = "Disabled"
}
module "outside" {
  source = "../../../elsewhere"
}
""",
            "modules/notebook/main.tf": """
variable "internet" {
  default = "Disabled"
}
resource "aws_sagemaker_notebook_instance" "this" {
  name                   = "nb"
  role_arn               = "r"
  instance_type          = "ml.t3.medium"
  direct_internet_access = var.internet
}
""",
        },
    )
    found = collect([tmp_path])
    # a module folder that is not there is reported with the call's address
    assert [(e.path.endswith("root/main.tf"), e.message.split(":")[0]) for e in found.errors] == [
        (True, "module.outside")
    ]
    addresses = sorted(r.address for r in found.resources)
    # evaluated through each call, not a third time on its own
    assert addresses == [
        "module.closed.aws_sagemaker_notebook_instance.this",
        "module.open.aws_sagemaker_notebook_instance.this",
    ]
    hits = _rule_hits(found, "MLSTIX-AWS-SM-001")
    assert hits == {"module.open.aws_sagemaker_notebook_instance.this"}
    module_file = next(r.file for r in found.resources)
    assert module_file.endswith("modules/notebook/main.tf")


def test_terraform_plan_json_uses_resolved_values_and_unknowns(tmp_path: Path) -> None:
    plan = {
        "format_version": "1.2",
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        "address": "aws_sagemaker_notebook_instance.nb",
                        "mode": "managed",
                        "type": "aws_sagemaker_notebook_instance",
                        "name": "nb",
                        "values": {
                            "direct_internet_access": "Enabled",
                            "root_access": "Disabled",
                            "subnet_id": None,
                        },
                    }
                ],
                "child_modules": [
                    {
                        "address": "module.m",
                        "resources": [
                            {
                                "address": "module.m.aws_ecr_repository.r",
                                "mode": "managed",
                                "type": "aws_ecr_repository",
                                "name": "r",
                                "values": {"image_tag_mutability": "IMMUTABLE"},
                            }
                        ],
                    }
                ],
            }
        },
        "resource_changes": [
            {
                "address": "aws_sagemaker_notebook_instance.nb",
                "change": {"after_unknown": {"kms_key_id": True}},
            }
        ],
        "configuration": {
            "root_module": {
                "resources": [
                    {
                        "address": "aws_sagemaker_notebook_instance.nb",
                        "expressions": {
                            "kms_key_id": {"references": ["aws_kms_key.k.arn", "aws_kms_key.k"]}
                        },
                    }
                ]
            }
        },
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan, indent=2))
    found = collect([path])
    assert [s.kind for s in found.scanned] == ["terraform-plan"]
    nb = _by_name(found)["nb"]
    assert nb.attributes["kms_key_id"] == "${aws_kms_key.k}"  # type: ignore[attr-defined]
    assert "subnet_id" not in nb.attributes  # type: ignore[attr-defined]
    lines = json.dumps(plan, indent=2).splitlines()
    first = next(i for i, line in enumerate(lines) if "aws_sagemaker_notebook_instance.nb" in line)
    assert nb.line == first + 1  # type: ignore[attr-defined]
    assert _rule_hits(found, "MLSTIX-AWS-SM-001") == {"aws_sagemaker_notebook_instance.nb"}
    assert _rule_hits(found, "MLSTIX-AWS-SM-003") == set()  # known after apply: a reference
    assert _rule_hits(found, "MLSTIX-AWS-SM-004") == {"aws_sagemaker_notebook_instance.nb"}
    assert "module.m.aws_ecr_repository.r" in {r.address for r in found.resources}


CFN_ALL_TAGS = """
AWSTemplateFormatVersion: "2010-09-09"
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  Both: !And [!Condition IsProd, !Not [!Equals [!Ref Env, dev]]]
  Either: !Or [!Condition IsProd, !Condition Both]
Parameters:
  Env: {Type: String, Default: prod}
Mappings:
  M: {prod: {Access: Disabled}}
Resources:
  Notebook:
    Type: AWS::SageMaker::NotebookInstance
    Properties:
      InstanceType: !If [IsProd, ml.t3.large, ml.t3.medium]
      RoleArn: !GetAtt Role.Arn
      DirectInternetAccess: !FindInMap [M, !Ref Env, Access]
      SubnetId: !Select [0, !GetAZs ""]
      KmsKeyId: !ImportValue shared-kms
      LifecycleConfigName: !Join ["-", [a, b]]
      DefaultCodeRepository: !Sub "https://${AWS::Region}.example"
      AdditionalCodeRepositories: !Split [",", "a,b"]
      PlatformIdentifier: !Base64 x
      Tags: !Cidr [10.0.0.0/16, 2, 8]
      VolumeSizeInGB: !Length [1, 2]
      Unknown: !SomeFutureTag value
  Role:
    Type: AWS::IAM::Role
    Properties: {AssumeRolePolicyDocument: !Transform {Name: x}}
"""


def test_cloudformation_short_form_tags_all_parse(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(CFN_ALL_TAGS)
    found = collect([tmp_path])
    assert not found.errors
    nb = _by_name(found)["Notebook"]
    attrs = nb.attributes  # type: ignore[attr-defined]
    assert nb.line == 12  # type: ignore[attr-defined]
    assert attrs["LifecycleConfigName"] == "a-b"
    assert isinstance(attrs["RoleArn"], Expr) and "Role" in attrs["RoleArn"]
    assert attrs["DirectInternetAccess"] == "Disabled"  # FindInMap at the parameter default
    assert attrs["InstanceType"] == "ml.t3.large"  # IsProd is true at Env's default
    assert attrs["Unknown"] == "value"
    assert _rule_hits(found, "MLSTIX-AWS-SM-001") == set()


def test_cloudformation_json_lines_and_parameter_defaults(tmp_path: Path) -> None:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"Access": {"Type": "String", "Default": "Enabled"}},
        "Resources": {
            "First": {"Type": "AWS::ECR::Repository", "Properties": {}},
            "Notebook": {
                "Type": "AWS::SageMaker::NotebookInstance",
                "Properties": {"DirectInternetAccess": {"Ref": "Access"}},
            },
        },
    }
    text = json.dumps(template, indent=2)
    (tmp_path / "t.json").write_text(text)
    found = collect([tmp_path])
    nb = _by_name(found)["Notebook"]
    assert nb.attributes["DirectInternetAccess"] == "Enabled"  # type: ignore[attr-defined]
    assert nb.line == text.splitlines().index('    "Notebook": {') + 1  # type: ignore[attr-defined]


def test_arm_child_resources_lines_and_parameters(tmp_path: Path) -> None:
    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "parameters": {"wsName": {"type": "string", "defaultValue": "ws1"}},
        "resources": [
            {
                "type": "Microsoft.MachineLearningServices/workspaces",
                "name": "[parameters('wsName')]",
                "properties": {"publicNetworkAccess": "Enabled"},
                "resources": [
                    {"type": "computes", "name": "c1", "properties": {"disableLocalAuth": True}}
                ],
            }
        ],
    }
    text = json.dumps(template, indent=2)
    (tmp_path / "azuredeploy.json").write_text(text)
    found = collect([tmp_path])
    by_type = {r.type: r for r in found.resources}
    ws = by_type["Microsoft.MachineLearningServices/workspaces"]
    assert ws.name == "ws1"
    child = by_type["Microsoft.MachineLearningServices/workspaces/computes"]
    lines = text.splitlines()
    assert lines[child.line - 1].strip() == '"type": "computes",'
    assert lines[ws.line - 1].strip().startswith('"type": "Microsoft.MachineLearningServices')


def test_kubernetes_multi_document_and_list(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(
        """---
apiVersion: v1
kind: Namespace
metadata: {name: ml}
---
# comment
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: a, namespace: ml}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: b}
---
"""
    )
    found = collect([tmp_path])
    assert not found.errors
    got = {(r.type, r.name, r.extra["namespace"], r.line) for r in found.resources}
    assert got == {
        ("Namespace", "ml", "default", 2),
        ("Deployment", "a", "ml", 10),
        ("Deployment", "b", "default", 13),
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.tf", 'resource "a" "b" {\n  x = \n}\n', "HCL syntax error at line 2"),
        ("dup.tf", 'resource "a" "b" {\n  x = 1\n  x = 2\n}\n', "'x' redefined at line 3"),
        ("bad.yaml", "AWSTemplateFormatVersion: x\nResources: [\n", "YAML syntax error"),
        ("bad.json", '{"AWSTemplateFormatVersion": ', "JSON syntax error"),
        (
            "helm.yaml",
            "{{- if .Values.enabled }}\napiVersion: v1\nkind: Service\n{{- end }}\n",
            "unrendered template",
        ),
        (
            "bomb.yaml",
            "apiVersion: v1\nkind: ConfigMap\n"
            + "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
                for i in range(7)
            ),
            "too large",
        ),
        ("binary.yaml", "kind: x\n\udcff", "cannot read"),
        ("deep.tf", 'resource "a" "b" {\n  x = ' + "[" * 5000 + "]" * 5000 + "\n}\n", "too deep"),
        (
            "deep.yaml",
            "apiVersion: v1\nkind: ConfigMap\ndata: " + "[" * 5000 + "]" * 5000 + "\n",
            "maximum nesting depth",
        ),
    ],
)
def test_bad_files_are_errors_and_the_scan_goes_on(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    (tmp_path / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "main.tf").write_text(
        'resource "aws_ecr_repository" "r" {\n  name = "x"\n}\n'
    )
    found = collect([tmp_path])
    assert [r.name for r in found.resources] == ["r"]
    assert len(found.errors) == 1
    err = found.errors[0]
    assert err.path.endswith(name)
    assert message in err.message


def test_oversized_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("mlstix.scan.iac.collect")

    monkeypatch.setattr(module, "MAX_FILE_BYTES", 10)
    (tmp_path / "big.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    found = collect([tmp_path])
    assert found.resources == ()
    assert "larger than 10 bytes" in found.errors[0].message


def test_symlink_out_of_the_root_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: secret}\n")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link.yaml")
    found = collect([root])
    assert found.resources == ()
    assert "leaves the scanned root" in found.errors[0].message


def test_parallel_parsing_gives_the_same_resources(tmp_path: Path) -> None:
    for i in range(12):
        (tmp_path / f"d{i}").mkdir()
        (tmp_path / f"d{i}" / "main.tf").write_text(
            f'resource "aws_ecr_repository" "r{i}" {{\n  name = "x{i}"\n}}\n'
        )
        (tmp_path / f"k{i}.yaml").write_text(
            f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\n"
        )
    one = collect([tmp_path])
    two = collect([tmp_path], jobs=2)
    assert sorted(r.address for r in one.resources) == sorted(r.address for r in two.resources)
    assert len(one.resources) == 24


def test_files_of_other_kinds_are_skipped_not_errors(tmp_path: Path) -> None:
    (tmp_path / "tsconfig.json").write_text(
        '{\n  // comments are fine here\n  "compilerOptions": {}\n}\n'
    )
    (tmp_path / "package.json").write_text('{"name": "x"}')
    (tmp_path / "playbook.yml").write_text("- hosts: all\n  vars:\n    kind: !vault |\n      abc\n")
    (tmp_path / "workflow.yaml").write_text("on: push\njobs:\n  build:\n    runs-on: x\n")
    (tmp_path / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    found = collect([tmp_path])
    assert found.errors == ()
    assert [s.path.rsplit("/", 1)[-1] for s in found.scanned] == ["pod.yaml"]


def test_auto_tfvars_override_terraform_tfvars(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'variable "access" {\n  default = "Disabled"\n}\n'
        'resource "aws_sagemaker_notebook_instance" "nb" {\n'
        "  direct_internet_access = var.access\n}\n"
    )
    (tmp_path / "terraform.tfvars").write_text('access = "Disabled"\n')
    (tmp_path / "a.auto.tfvars").write_text('access = "Enabled"\n')
    found = collect([tmp_path])
    assert found.resources[0].attributes["direct_internet_access"] == "Enabled"


def test_terraform_json_syntax(tmp_path: Path) -> None:
    doc = {
        "variable": {"access": {"default": "Enabled"}},
        "resource": {
            "aws_sagemaker_notebook_instance": {
                "nb": {"direct_internet_access": "${var.access}", "root_access": "Disabled"}
            }
        },
    }
    text = json.dumps(doc, indent=2)
    (tmp_path / "main.tf.json").write_text(text)
    found = collect([tmp_path])
    assert not found.errors
    (nb,) = found.resources
    assert nb.address == "aws_sagemaker_notebook_instance.nb"
    assert nb.attributes["direct_internet_access"] == "Enabled"
    assert text.splitlines()[nb.line - 1].strip() == '"nb": {'
    assert _rule_hits(found, "MLSTIX-AWS-SM-001") == {"aws_sagemaker_notebook_instance.nb"}


def test_cloudformation_parameter_values_decide_conditions(tmp_path: Path) -> None:
    from mlstix.scan.iac import Options

    src = FIXTURES / "MLSTIX-AWS-SM-001" / "cloudformation-conditions" / "template.yaml"
    (tmp_path / "t.yaml").write_text(src.read_text())
    at_default = collect([tmp_path])
    assert sorted(_by_name(at_default)) == ["FailOpenWhenProd", "PassClosedInProd"]
    dev = collect([tmp_path], options=Options(parameters=(("Env", "dev"),)))
    assert sorted(_by_name(dev)) == ["PassClosedInProd", "PassDevOnlyNotCreated"]
    assert _rule_hits(dev, "MLSTIX-AWS-SM-001") == {
        "AWS::SageMaker::NotebookInstance PassClosedInProd",
        "AWS::SageMaker::NotebookInstance PassDevOnlyNotCreated",
    }
    debug = collect(
        [tmp_path], options=Options(parameters=(("Env", "dev"), ("DebugAccess", "true")))
    )
    assert _rule_hits(debug, "MLSTIX-AWS-SM-001") == {
        "AWS::SageMaker::NotebookInstance PassClosedInProd",
        "AWS::SageMaker::NotebookInstance PassDevOnlyNotCreated",
    }
    assert _by_name(debug)["FailOpenWhenProd"].attributes["DirectInternetAccess"] == "Disabled"  # type: ignore[attr-defined]


def test_arm_conditions_and_parameter_values(tmp_path: Path) -> None:
    from mlstix.scan.iac import Options

    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "parameters": {
            "env": {"type": "string", "defaultValue": "dev"},
            "deployPublic": {"type": "bool", "defaultValue": False},
        },
        "resources": [
            {
                "type": "Microsoft.MachineLearningServices/workspaces",
                "name": "prod-only",
                "condition": "[equals(parameters('env'), 'prod')]",
                "properties": {},
            },
            {
                "type": "Microsoft.MachineLearningServices/workspaces",
                "name": "public",
                "condition": "[parameters('deployPublic')]",
                "properties": {},
            },
            {
                "type": "Microsoft.MachineLearningServices/workspaces",
                "name": "not-dev",
                "condition": "[not(equals(parameters('env'), 'dev'))]",
                "properties": {},
            },
            {
                "type": "Microsoft.MachineLearningServices/workspaces",
                "name": "unknown",
                "condition": "[contains(parameters('env'), 'p')]",
                "properties": {},
            },
        ],
    }
    (tmp_path / "t.json").write_text(json.dumps(template))
    assert sorted(_by_name(collect([tmp_path]))) == ["unknown"]
    prod = collect([tmp_path], options=Options(parameters=(("env", "prod"),)))
    assert sorted(_by_name(prod)) == ["not-dev", "prod-only", "unknown"]


CFN_FOREACH = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::LanguageExtensions
Parameters:
  Teams:
    Type: CommaDelimitedList
    Default: "fraud,churn"
  Extra:
    Type: CommaDelimitedList
Resources:
  Fn::ForEach::Notebooks:
    - Team
    - !Ref Teams
    - "Notebook&{Team}":
        Type: AWS::SageMaker::NotebookInstance
        Properties:
          NotebookInstanceName: !Sub "nb-${Team}"
          InstanceType: ml.t3.medium
          RoleArn: arn:aws:iam::111122223333:role/sm
          DirectInternetAccess: !If [IsFraud, Disabled, Enabled]
  Fn::ForEach::Unknown:
    - Name
    - !Ref Extra
    - "Bucket${Name}":
        Type: AWS::S3::Bucket
        Properties:
          BucketName: !Ref Name
Conditions:
  IsFraud: !Equals [a, b]
"""


def test_cloudformation_foreach_loops_expand(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(CFN_FOREACH)
    found = collect([tmp_path])
    assert not found.errors
    by_name = _by_name(found)
    assert sorted(by_name) == ["Bucket${Name}", "Notebookchurn", "Notebookfraud"]
    fraud = by_name["Notebookfraud"]
    assert fraud.attributes["NotebookInstanceName"] == "nb-fraud"  # type: ignore[attr-defined]
    assert fraud.line == 11  # type: ignore[attr-defined]
    assert isinstance(by_name["Bucket${Name}"].attributes["BucketName"], Expr)  # type: ignore[attr-defined]
    assert _rule_hits(found, "MLSTIX-AWS-SM-001") == {
        "AWS::SageMaker::NotebookInstance Notebookchurn",
        "AWS::SageMaker::NotebookInstance Notebookfraud",
    }


def test_yaml_dates_are_text_as_the_clouds_read_them(tmp_path: Path) -> None:
    """PyYAML made `2010-09-09` a date and `2026-02-30` a ValueError ("cannot interpret
    file", exit 2) for a manifest and a template that Kubernetes and CloudFormation accept."""
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
        "    built: 2026-02-30\nspec: {containers: []}\n"
    )
    (tmp_path / "stack.yaml").write_text(
        "AWSTemplateFormatVersion: 2010-09-09\nResources:\n  B:\n    Type: AWS::S3::Bucket\n"
        "    Properties:\n      Tags: [{Key: released, Value: 2026-11-30}]\n"
    )
    found = collect([tmp_path])
    assert not found.errors
    by_type = {r.type: r for r in found.resources}
    assert by_type["Pod"].attributes["metadata"]["annotations"]["built"] == "2026-02-30"
    tags = by_type["AWS::S3::Bucket"].attributes["Tags"]
    assert tags == [{"Key": "released", "Value": "2026-11-30"}]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: 5\nspec: x\n",
            "line 1: InferenceService: metadata is not a mapping",
        ),
        (
            "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
            "metadata: {name: m}\nspec: x\n",
            "line 1: InferenceService: spec is not a mapping",
        ),
        ("apiVersion: v1\nkind: List\nitems: x\n", "line 1: List: items is not a list"),
        ("apiVersion: [v1]\nkind: Pod\n", "line 1: apiVersion is not a string"),
        # deeper fields the API server types and the rules read (found by mutating fixtures)
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: [a]}\n",
            "line 1: Pod.metadata.labels is not a map of strings",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: [p]}\n",
            "line 1: Pod.metadata.name is not a string or number",
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n"
            "    spec:\n      containers:\n      - name: c\n        env: [{name: [X]}]\n",
            "line 1: Deployment.spec.template.spec.containers[0].env[0].name is not a string or",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
            "spec:\n  ports: [{port: {a: 1}}]\n",
            "line 1: Service.spec.ports[0].port is not a string or number",
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\n"
            "spec: {podSelector: {matchLabels: true}}\n",
            "line 1: NetworkPolicy.spec.podSelector.matchLabels is not a map of strings",
        ),
    ],
    ids=["metadata", "spec", "items", "apiVersion", "labels", "name", "env", "port", "selector"],
)
def test_kubernetes_objects_of_the_wrong_shape_are_errors(
    tmp_path: Path, text: str, said: str
) -> None:
    """`spec: x` reached the KServe rule, which called .get on a string: a traceback, exit 1,
    and no report at all. The API server refuses such objects; so does the parser."""
    (tmp_path / "bad.yaml").write_text(text)
    (tmp_path / "good.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    found = collect([tmp_path])
    assert [e.path.rsplit("/", 1)[-1] for e in found.errors] == ["bad.yaml"]
    assert found.errors[0].message.startswith(f"cannot interpret k8s: {said}")
    assert [r.name for r in found.resources] == ["p"]
    registry = default_registry()
    evaluate(registry, list(registry), found.resources, None)  # no rule meets the bad object


def test_an_ingress_backend_port_object_is_not_mistaken_for_a_bad_port(tmp_path: Path) -> None:
    (tmp_path / "ingress.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\nspec:\n"
        "  rules:\n  - http:\n      paths:\n      - path: /\n        pathType: Prefix\n"
        "        backend: {service: {name: s, port: {number: 80}}}\n"
    )
    found = collect([tmp_path])
    assert not found.errors and [r.name for r in found.resources] == ["i"]


def test_a_template_interpolating_a_literal_evaluates(tmp_path: Path) -> None:
    """The parser folds `${true}` in a heredoc to the bool True, which the template evaluator
    took for an expression node: AttributeError, a traceback (found by test_hostile's fuzzer)."""
    (tmp_path / "main.tf").write_text(
        'resource "aws_s3_bucket" "b" {\n  bucket = <<-EOT\n  on-${true}-${1}\n  EOT\n}\n'
    )
    found = collect([tmp_path])
    assert not found.errors
    assert [r.attributes["bucket"] for r in found.resources] == ["on-true-1\n"]
