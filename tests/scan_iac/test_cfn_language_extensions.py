"""``AWS::LanguageExtensions`` functions: ``Fn::ToJsonString`` (a SageMaker pipeline definition
written as YAML), ``Fn::FindInMap`` with ``DefaultValue``, ``Fn::Length``. A pipeline body with
unknown parts keeps them unknown (as JSON text they would look like literal values)."""

from __future__ import annotations

from pathlib import Path

from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import default_registry, evaluate

STEP = """
          Fn::ToJsonString:
            Version: "2020-12-01"
            Steps:
              - Name: Train
                Type: Training
                Arguments:
                  AlgorithmSpecification:
                    TrainingImage: "1.dkr.ecr.us-east-1.amazonaws.com/t:1"
                    TrainingInputMode: File
                  OutputDataConfig: {{S3OutputPath: "s3://b/out"}}
                  ResourceConfig:
                    {{InstanceCount: 1, InstanceType: ml.m5.xlarge, VolumeSizeInGB: 30}}
                  RoleArn: {role}
                  StoppingCondition: {{MaxRuntimeInSeconds: 3600}}
                  EnableNetworkIsolation: {isolation}
"""

TEMPLATE = """AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::LanguageExtensions
Parameters:
  Env:
    Type: String
    Default: staging
Mappings:
  Net:
    prod: {{Isolate: true}}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {{}}
  FromDefaultValue:
    Type: AWS::SageMaker::Pipeline
    Properties:
      PipelineName: a
      RoleArn: r
      PipelineDefinition:
        PipelineDefinitionBody:{a}
  UnknownIsolation:
    Type: AWS::SageMaker::Pipeline
    Properties:
      PipelineName: b
      RoleArn: r
      PipelineDefinition:
        PipelineDefinitionBody:{b}
  Counted:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Sub
        - "${{N}}"
        - N: {{"Fn::Length": [a, b, c]}}
"""


def test_pipeline_written_with_to_json_string(tmp_path: Path) -> None:
    a = STEP.format(
        role="arn:aws:iam::111122223333:role/p",
        isolation="!FindInMap [Net, !Ref Env, Isolate, {DefaultValue: false}]",
    )
    b = STEP.format(role="!GetAtt Role.Arn", isolation="!Ref AWS::Region")
    (tmp_path / "t.yaml").write_text(TEMPLATE.format(a=a, b=b))
    found = collect([tmp_path])
    assert not found.errors
    by_name = {r.name: r for r in found.resources}
    body = by_name["FromDefaultValue"].attributes["PipelineDefinition"]["PipelineDefinitionBody"]
    assert isinstance(body, str) and '"EnableNetworkIsolation":false' in body
    assert by_name["Counted"].attributes["Value"] == "3"
    registry = default_registry()
    hits = evaluate(registry, [registry.get("MLSTIX-AWS-TRN-001")], found.resources, None)
    assert [f.location.resource for f in hits] == ["AWS::SageMaker::Pipeline FromDefaultValue"]
