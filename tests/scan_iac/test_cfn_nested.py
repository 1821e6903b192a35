"""CloudFormation nested stacks given by a local ``TemplateURL`` (and SAM applications by a local
``Location``): the child is read with the values its parent passes, once per parent stack
resource, only where that resource is created, and not on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import default_registry, evaluate

CHILD = """AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Internet:
    Type: String
    Default: {default}
Resources:
  Nb:
    Type: AWS::SageMaker::NotebookInstance
    Properties:
      InstanceType: ml.t3.medium
      RoleArn: r
      DirectInternetAccess: !Ref Internet
      RootAccess: Disabled
      KmsKeyId: k
      SubnetId: s
"""

PARENT = """AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Env:
    Type: String
    Default: prod
Conditions:
  IsDev: !Equals [!Ref Env, dev]
Resources:
  Research:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: ./stacks/notebook.yaml
      Parameters:
        Internet: Enabled
  Locked:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: stacks/notebook.yaml
  FromImport:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: stacks/notebook.yaml
      Parameters:
        Internet: !ImportValue shared-InternetSetting
  DevOnly:
    Type: AWS::CloudFormation::Stack
    Condition: IsDev
    Properties:
      TemplateURL: stacks/notebook.yaml
      Parameters:
        Internet: Enabled
  App:
    Type: AWS::Serverless::Application
    Properties:
      Location: stacks/notebook.yaml
      Parameters:
        Internet: Enabled
  Remote:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: https://s3.amazonaws.com/acme-templates/notebook.yaml
"""


def _scan(root: Path) -> tuple[list[str], list[str]]:
    """(scopes of every notebook, scopes of the notebooks SM-001 reports)."""
    found = collect([root])
    registry = default_registry()
    rule = registry.get("MLSTIX-AWS-SM-001")
    nbs = [r for r in found.resources if r.type == "AWS::SageMaker::NotebookInstance"]
    flagged = []
    for r in nbs:
        if evaluate(registry, [rule], [r], None):
            flagged.append(r.scope.rsplit("#", 1)[-1])
    assert not found.errors, found.errors
    return sorted(r.scope.rsplit("#", 1)[-1] for r in nbs), sorted(flagged)


def test_child_is_read_with_its_parents_values(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "notebook.yaml").write_text(CHILD.format(default="Disabled"))
    (tmp_path / "main.yaml").write_text(PARENT)
    every, flagged = _scan(tmp_path)
    # once per created parent stack resource, never on its own nor under DevOnly (false)
    assert every == ["App", "FromImport", "Locked", "Research"]
    assert flagged == ["App", "Research"]
    found = collect([tmp_path])
    registry = default_registry()
    hits = evaluate(registry, [registry.get("MLSTIX-AWS-SM-001")], found.resources, None)
    assert sorted(f.location.resource or "" for f in hits) == [
        "AWS::SageMaker::NotebookInstance App/Nb",
        "AWS::SageMaker::NotebookInstance Research/Nb",
    ]  # a finding per instance, on the child's file
    assert {f.location.path for f in hits} == {str(tmp_path / "stacks" / "notebook.yaml")}


def test_unknown_value_from_the_parent_is_not_the_childs_default(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "notebook.yaml").write_text(CHILD.format(default="Enabled"))
    (tmp_path / "main.yaml").write_text(PARENT)
    _every, flagged = _scan(tmp_path)
    assert flagged == ["App", "Locked", "Research"]  # FromImport's value is not known


def test_child_scanned_without_its_parent_takes_its_defaults(tmp_path: Path) -> None:
    (tmp_path / "notebook.yaml").write_text(CHILD.format(default="Enabled"))
    found = collect([tmp_path])
    assert [r.scope for r in found.resources] == [str(tmp_path / "notebook.yaml")]
    registry = default_registry()
    assert evaluate(registry, [registry.get("MLSTIX-AWS-SM-001")], found.resources, None)


def test_a_nesting_cycle_is_an_error_not_a_hang(tmp_path: Path) -> None:
    stack = """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Next:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: {target}
"""
    (tmp_path / "root.yaml").write_text(stack.format(target="a.yaml"))
    (tmp_path / "a.yaml").write_text(stack.format(target="b.yaml"))
    (tmp_path / "b.yaml").write_text(stack.format(target="a.yaml"))
    found = collect([tmp_path])
    assert any("nesting cycle" in e.message for e in found.errors)


def test_fan_out_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlstix.scan.iac import _cfnnested

    monkeypatch.setattr(_cfnnested, "MAX_INSTANCES", 20)
    fan = "".join(
        f"  S{i}:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n"
        f"      TemplateURL: {{target}}\n"
        for i in range(5)
    )
    head = 'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n'
    (tmp_path / "root.yaml").write_text(head + fan.format(target="l1.yaml"))
    (tmp_path / "l1.yaml").write_text(head + fan.format(target="l2.yaml"))
    (tmp_path / "l2.yaml").write_text(head + fan.format(target="l3.yaml"))
    (tmp_path / "l3.yaml").write_text(CHILD.format(default="Enabled"))
    found = collect([tmp_path])  # 5 * 5 * 5 instances of l3 alone, more than 20
    assert [e.message for e in found.errors] == ["more than 20 nested stack instances"]
