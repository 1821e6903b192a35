"""CloudFormation values read at deploy time stay unknown: parameters of an SSM type (their value
is the name of an SSM parameter) and dynamic references (``{{resolve:ssm:...}}``,
``ssm-secure``, ``secretsmanager``) anywhere in a string. Were they taken literally, a notebook
whose internet access comes from SSM would be reported for the parameter's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstix.scan.iac import Options, collect
from mlstix.scan.iac._values import is_unknown
from mlstix.scan.rules.iac import default_registry, evaluate

TEMPLATE = """AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Internet:
    Type: AWS::SSM::Parameter::Value<String>
    Default: /platform/notebook/internet
  Root:
    Type: String
    Default: "{{resolve:ssm:/platform/notebook/root}}"
  Env:
    Type: AWS::SSM::Parameter::Value<String>
    Default: /platform/env
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  FromSsmType:
    Type: AWS::SageMaker::NotebookInstance
    Properties:
      InstanceType: ml.t3.medium
      RoleArn: r
      DirectInternetAccess: !Ref Internet
      RootAccess: !Ref Root
      KmsKeyId: !Sub "{{resolve:ssm:/platform/kms/${AWS::Region}}}"
      SubnetId: s
  FromDynamicRef:
    Type: AWS::SageMaker::NotebookInstance
    Properties:
      InstanceType: ml.t3.medium
      RoleArn: r
      DirectInternetAccess: "{{resolve:ssm:/platform/notebook/internet:3}}"
      RootAccess: !If [IsProd, Disabled, Enabled]
      KmsKeyId: k
      SubnetId: s
  Literal:
    Type: AWS::SageMaker::NotebookInstance
    Properties:
      InstanceType: ml.t3.medium
      RoleArn: r
      DirectInternetAccess: Enabled
      RootAccess: Enabled
      KmsKeyId: k
      SubnetId: s
"""

RULES = ("MLSTIX-AWS-SM-001", "MLSTIX-AWS-SM-002", "MLSTIX-AWS-SM-003")


@pytest.mark.parametrize("given", [(), (("Internet", "/other/name"),)])
def test_values_read_at_deploy_time_decide_nothing(
    tmp_path: Path, given: tuple[tuple[str, str], ...]
) -> None:
    (tmp_path / "t.yaml").write_text(TEMPLATE)
    found = collect([tmp_path], options=Options(parameters=given))
    assert not found.errors
    by_name = {r.name: r for r in found.resources}
    assert is_unknown(by_name["FromSsmType"].attributes["DirectInternetAccess"])
    assert is_unknown(by_name["FromSsmType"].attributes["RootAccess"])
    assert is_unknown(by_name["FromDynamicRef"].attributes["DirectInternetAccess"])
    assert is_unknown(by_name["FromDynamicRef"].attributes["RootAccess"])  # condition unknown
    registry = default_registry()
    rules = [registry.get(r) for r in RULES]
    hits = sorted(
        (f.rule_id, f.location.resource) for f in evaluate(registry, rules, found.resources, None)
    )
    assert hits == [
        ("MLSTIX-AWS-SM-001", "AWS::SageMaker::NotebookInstance Literal"),
        ("MLSTIX-AWS-SM-002", "AWS::SageMaker::NotebookInstance Literal"),
    ]
