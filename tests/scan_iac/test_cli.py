"""``mlstix scan iac`` and ``mlstix rules`` as a user runs them: formats, filters, exit codes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "MLSTIX-AWS-SM-001" / "terraform", tmp_path / "tf")
    shutil.copytree(FIXTURES / "MLSTIX-K8S-SRV-001" / "kubernetes", tmp_path / "k8s")
    (tmp_path / "broken.tf").write_text('resource "x" {\n')
    return tmp_path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_json_report_findings_errors_and_exit_code(repo: Path) -> None:
    code, out = _run("scan", "iac", str(repo), "--format", "json")
    assert code == 2  # broken.tf could not be parsed: never silently clean
    report = json.loads(out[out.index("{") : out.rindex("}") + 1])
    rules = {f["rule_id"] for f in report["findings"]}
    assert {"MLSTIX-AWS-SM-001", "MLSTIX-K8S-SRV-001"} <= rules
    sm = next(f for f in report["findings"] if f["rule_id"] == "MLSTIX-AWS-SM-001")
    assert sm["location"]["path"].endswith("tf/main.tf")
    assert sm["location"]["line"] >= 1
    assert sm["location"]["resource"].startswith("aws_sagemaker_notebook_instance.fail_")
    assert sm["title"].startswith("Exposed Model Endpoints: ")
    assert sm["vulnerability"] == "exposed-model-endpoints"
    assert [e["path"].endswith("broken.tf") for e in report["errors"]] == [True]
    assert {s["kind"] for s in report["scanned"]} == {"terraform", "kubernetes"}
    tf = next(s for s in report["scanned"] if s["kind"] == "terraform")
    assert tf["sha256"] == hashlib.sha256((repo / "tf" / "main.tf").read_bytes()).hexdigest()


def test_exclude_leaves_files_out_and_findings_decide_the_exit_code(repo: Path) -> None:
    code, out = _run("scan", "iac", str(repo), "--format", "json", "--exclude", "broken.tf")
    assert code == 1  # high and critical findings, default --fail-on high
    assert json.loads(out)["errors"] == []
    code, out = _run(
        "scan", "iac", str(repo), "--format", "json", "--exclude", "*.tf", "--exclude", "k8s/"
    )
    assert code == 2
    assert "found no Terraform, CloudFormation, ARM or Kubernetes files" in out


def test_sarif_results_point_at_file_and_line(repo: Path) -> None:
    code, out = _run(
        "scan", "iac", str(repo / "tf"), "--format", "sarif", "--rule", "MLSTIX-AWS-SM-001"
    )
    assert code == 1
    sarif = json.loads(out)
    results = sarif["runs"][0]["results"]
    assert len(results) == 2
    text = (repo / "tf" / "main.tf").read_text().splitlines()
    for res in results:
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"].endswith("main.tf")
        line = loc["region"]["startLine"]
        assert text[line - 1].startswith('resource "aws_sagemaker_notebook_instance" "fail_')


def test_cloud_rule_and_skip_filters(repo: Path) -> None:
    (repo / "broken.tf").unlink()
    _, out = _run("scan", "iac", str(repo), "--format", "json", "--cloud", "kubernetes")
    assert {f["rule_id"].split("-")[1] for f in json.loads(out)["findings"]} == {"K8S"}
    _, out = _run("scan", "iac", str(repo), "--format", "json", "--skip-rule", "mlstix-aws-sm-001")
    assert "MLSTIX-AWS-SM-001" not in {f["rule_id"] for f in json.loads(out)["findings"]}
    code, out = _run(
        "scan",
        "iac",
        str(repo),
        "--format",
        "json",
        "--rule",
        "MLSTIX-AWS-SM-002",
        "--fail-on",
        "high",
    )
    assert code == 0  # SM-002 is medium: below --fail-on high
    assert {f["rule_id"] for f in json.loads(out)["findings"]} == {"MLSTIX-AWS-SM-002"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rule", "MLSTIX-NOPE-001"), "unknown rule id 'MLSTIX-NOPE-001'"),
        (("--cloud", "oracle"), "Invalid value for '--cloud'"),
        (("--format", "pdf"), "Invalid value for '--format'"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    repo: Path, args: tuple[str, ...], message: str
) -> None:
    code, out = _run("scan", "iac", str(repo), *args)
    assert code == 2
    assert message in out


def test_missing_path_exits_2_and_writes_no_output(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    code, out = _run("scan", "iac", str(tmp_path / "nope"), "--output", str(target))
    assert code == 2
    assert "no such file or directory" in out
    assert not target.exists()


def test_output_file_is_written(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.md"
    target.parent.mkdir()  # a missing parent folder is an error (issue 11)
    code, _ = _run("scan", "iac", str(repo / "k8s"), "--format", "markdown", "-o", str(target))
    assert code == 1
    assert "MLSTIX-K8S-SRV-001" in target.read_text()
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def test_clean_scan_exits_0(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "aws_ecr_repository" "r" {\n  name = "x"\n'
        '  image_tag_mutability = "IMMUTABLE"\n'
        "  image_scanning_configuration {\n    scan_on_push = true\n  }\n}\n"
    )
    code, out = _run("scan", "iac", str(tmp_path), "--format", "json")
    assert code == 0
    assert json.loads(out)["findings"] == []


def test_rules_list_and_show() -> None:
    code, out = _run("rules", "list", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) >= 40
    assert {"id", "severity", "cloud", "languages", "vulnerability"} <= set(rows[0])
    code, out = _run("rules", "show", "mlstix-aws-sm-001")
    assert code == 0
    assert "exposed-model-endpoints" in out
    assert "fix (terraform)" in out and "fix (cloudformation)" in out
    assert 'direct_internet_access = "Disabled"' in out
    code, out = _run("rules", "show", "MLSTIX-NOPE-001")
    assert code == 2
    assert "no rule 'MLSTIX-NOPE-001'" in out


def test_var_var_file_and_parameter_options(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'variable "dia" {\n  default = "Disabled"\n}\n'
        'resource "aws_sagemaker_notebook_instance" "nb" {\n'
        '  name = "nb"\n  role_arn = "r"\n  instance_type = "ml.t3.medium"\n'
        "  direct_internet_access = var.dia\n}\n"
    )
    (tmp_path / "stack.yaml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\n"
        "Parameters:\n  Dia: {Type: String, Default: Disabled}\n"
        "Resources:\n  Nb:\n    Type: AWS::SageMaker::NotebookInstance\n    Properties:\n"
        "      InstanceType: ml.t3.medium\n      RoleArn: r\n      DirectInternetAccess: !Ref Dia\n"
    )
    base = ["scan", "iac", str(tmp_path), "--format", "json", "--rule", "MLSTIX-AWS-SM-001"]
    code, out = _run(*base)
    assert code == 0 and json.loads(out)["findings"] == []
    code, out = _run(*base, "--var", "dia=Enabled", "--parameter", "Dia=Enabled")
    assert code == 1
    assert sorted(f["location"]["resource"] for f in json.loads(out)["findings"]) == [
        "AWS::SageMaker::NotebookInstance Nb",
        "aws_sagemaker_notebook_instance.nb",
    ]
    var_file = tmp_path.parent / "open.tfvars"
    var_file.write_text('dia = "Enabled"\n')
    code, out = _run(*base, "--var-file", str(var_file))
    assert code == 1 and len(json.loads(out)["findings"]) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--var", "novalue"), "--var 'novalue': expected NAME=VALUE"),
        (("--parameter", "=x"), "--parameter '=x': expected NAME=VALUE"),
        (("--var-file", "/nonexistent/x.tfvars"), "--var-file /nonexistent/x.tfvars: no such file"),
    ],
)
def test_bad_variable_options_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "main.tf").write_text('resource "aws_ecr_repository" "r" {\n  name = "x"\n}\n')
    code, out = _run("scan", "iac", str(tmp_path), *args)
    assert code == 2
    assert message in out
    assert "Traceback" not in out


def test_tf_var_environment_is_weaker_than_tfvars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "main.tf").write_text(
        'variable "dia" {\n  default = "Disabled"\n}\n'
        'variable "root" {\n  default = "Disabled"\n}\n'
        'resource "aws_sagemaker_notebook_instance" "nb" {\n'
        '  name = "nb"\n  role_arn = "r"\n  instance_type = "ml.t3.medium"\n'
        "  direct_internet_access = var.dia\n  root_access = var.root\n}\n"
    )
    (tmp_path / "terraform.tfvars").write_text('root = "Disabled"\n')
    monkeypatch.setenv("TF_VAR_dia", "Enabled")
    monkeypatch.setenv("TF_VAR_root", "Enabled")
    code, out = _run(
        "scan", "iac", str(tmp_path), "--format", "json",
        "--rule", "MLSTIX-AWS-SM-001", "--rule", "MLSTIX-AWS-SM-002",
    )  # fmt: skip
    assert code == 1
    assert [f["rule_id"] for f in json.loads(out)["findings"]] == ["MLSTIX-AWS-SM-001"]
