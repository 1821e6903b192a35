"""``rules_run`` names only the rules that judged something, the others ``rules_not_applicable``.

A rule that ran over a scan holding no resource of the kinds it checks showed nothing, so no
benchmark control may pass on it (issue 14). Declarative rules judge the resources of their
check's types that their ``referenced_by`` admits; Python rules the types they declare in
``judges``, which these tests hold to what their logic reads and flags on the rule fixtures.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.errors import MlstixError
from mlstix.scan.iac import collect
from mlstix.scan.rules.iac import Context, RuleRegistry, default_registry, evaluate_isolated
from mlstix.scan.rules.iac.engine import subject_matches, subject_type

from .files import write_tree

FIXTURES = Path(__file__).parent / "fixtures"

_AWS_ONLY = """
resource "aws_s3_bucket" "models" {
  bucket = "acme-ml-models"
}

resource "aws_sagemaker_notebook_instance" "research" {
  name          = "research"
  role_arn      = "arn:aws:iam::123456789012:role/nb"
  instance_type = "ml.t3.medium"
}
"""


def _scan(tmp_path: Path, files: dict[str, str]) -> dict[str, list[str]]:
    root = write_tree(tmp_path / "iac", files)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["scan", "iac", str(root), "--format", "json", "-o", str(out), "--fail-on", "none"]
    )
    assert result.exit_code == 0, result.output
    data: dict[str, list[str]] = json.loads(out.read_text(encoding="utf-8"))
    return data


def test_an_aws_only_scan_runs_no_azure_gcp_or_kubernetes_rule(tmp_path: Path) -> None:
    report = _scan(tmp_path, {"main.tf": _AWS_ONLY})
    run, idle = set(report["rules_run"]), set(report["rules_not_applicable"])
    assert run and not run & idle
    everything = {r.id for r in default_registry()}
    assert run | idle == everything  # each selected rule is in exactly one of the two
    assert {r for r in run if not r.startswith("MLSTIX-AWS-")} == set()
    assert "MLSTIX-AZ-ML-004" in idle and "MLSTIX-GCP-GCS-001" in idle
    assert "MLSTIX-K8S-SRV-001" in idle
    # AWS rules whose resources are absent did not run either: no IAM, ECR, pipeline here
    assert {"MLSTIX-AWS-IAM-001", "MLSTIX-AWS-ECR-002", "MLSTIX-AWS-TRN-001"} <= idle
    # the rules that judged the bucket and the notebook (declarative and Python) ran
    assert {"MLSTIX-AWS-SM-001", "MLSTIX-AWS-S3-001", "MLSTIX-AWS-S3-004"} <= run


def test_a_rule_selected_with_only_has_the_same_split(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "iac", {"main.tf": _AWS_ONLY})
    out = tmp_path / "r.json"
    args = ["scan", "iac", str(root), "--format", "json", "-o", str(out), "--fail-on", "none"]
    for rule in ("MLSTIX-AWS-SM-001", "MLSTIX-AZ-ML-004"):
        args += ["--rule", rule]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["rules_run"] == ["MLSTIX-AWS-SM-001"]
    assert data["rules_not_applicable"] == ["MLSTIX-AZ-ML-004"]


def test_referenced_by_decides_what_a_declarative_rule_judges() -> None:
    """MLSTIX-AZ-ST-001 judges the storage accounts of ML workspaces only: an account no
    workspace refers to is not something it judged."""
    registry = default_registry()
    rule = registry.get("MLSTIX-AZ-ST-001")
    case = FIXTURES / rule.id / "terraform"
    found = collect([case])
    workspaces = [r for r in found.resources if r.type == "azurerm_machine_learning_workspace"]
    assert workspaces, "the fixture has a workspace"
    alone = [r for r in found.resources if r.type == "azurerm_storage_account"]
    judged = evaluate_isolated(registry, [rule], alone, None)
    assert judged.ran([rule]) == [] and judged.not_applicable([rule]) == [rule.id]
    judged = evaluate_isolated(registry, [rule], found.resources, None)
    assert judged.ran([rule]) == [rule.id] and judged.judged[rule.id] >= 2


def test_a_rule_that_fails_on_some_input_is_in_neither_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = default_registry()
    rule = registry.get("MLSTIX-AWS-S3-004")
    found = collect([FIXTURES / rule.id / "terraform"])
    assert rule.logic is not None

    def broken(ctx: Context) -> Iterator[object]:
        raise RuntimeError("boom")
        yield  # pragma: no cover

    monkeypatch.setitem(registry.logic, rule.logic, broken)
    judged = evaluate_isolated(registry, [rule], found.resources, None)
    assert judged.errors and judged.ran([rule]) == [] and judged.not_applicable([rule]) == []


def test_terraform_data_sources_count_only_when_a_rule_flags_one(tmp_path: Path) -> None:
    """A data source reads a resource configured elsewhere: the rules that do not flag it did
    not judge it (the S3 model-bucket rules do flag a data source today, so they ran)."""
    text = 'data "aws_s3_bucket" "models" {\n  bucket = "m"\n}\n'
    report = _scan(tmp_path, {"main.tf": text})
    flagged = {f["rule_id"] for f in report["findings"]}  # type: ignore[index]
    assert set(report["rules_run"]) == flagged
    assert "MLSTIX-AWS-S3-004" in report["rules_not_applicable"]


_NOT_ML = {
    "main.tf": """
resource "aws_s3_bucket" "access_logs" {
  bucket = "acme-access-logs"
}

resource "aws_sagemaker_pipeline" "prep" {
  pipeline_name         = "prep"
  pipeline_display_name = "prep"
  role_arn              = "arn:aws:iam::123456789012:role/p"
  pipeline_definition = jsonencode({
    Version = "2020-12-01"
    Steps = [{
      Name = "clean", Type = "Processing"
      Arguments = { NetworkConfig = { EnableNetworkIsolation = true } }
    }]
  })
}
""",
    "web.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1.27"}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80}]}
""",
}


def test_rules_that_judge_some_resources_of_a_type_did_not_run_on_the_others(
    tmp_path: Path,
) -> None:
    """A bucket that is not a model bucket, a web server that is not a model server, a pipeline
    with no Training step, a Service of no Kubeflow component: the rules that judge the ML ones
    had nothing to judge, so their controls cannot pass on them."""
    report = _scan(tmp_path, _NOT_ML)
    idle = set(report["rules_not_applicable"])
    assert {"MLSTIX-AWS-S3-001", "MLSTIX-AWS-S3-004", "MLSTIX-AWS-S3L-001"} <= idle
    assert {"MLSTIX-K8S-SRV-001", "MLSTIX-K8S-SRV-006", "MLSTIX-K8S-KF-001"} <= idle
    assert "MLSTIX-AWS-TRN-001" in idle
    assert "MLSTIX-AWS-PRC-001" in report["rules_run"]  # the Processing step was judged


# --- every Python rule declares what it judges, and the declaration holds ------------------


def _registries() -> list[RuleRegistry]:
    from mlstix.assess._rules import live_registry

    return [default_registry(), live_registry()]


def test_every_python_rule_declares_what_it_judges_in_every_language() -> None:
    missing = [
        f"{rule.id}/{dialect}"
        for registry in _registries()
        for rule in registry
        if rule.logic
        for dialect in rule.dialects
        if not rule.judges.get(dialect)
    ]
    assert missing == []


def test_a_new_python_rule_without_judges_is_refused() -> None:
    registry = RuleRegistry()
    registry.logic_function("new-logic")(lambda ctx: iter(()))
    registry.load_yaml(
        """
rules:
- id: MLSTIX-AWS-X-001
  title: something new
  severity: high
  vulnerability: exposed-model-endpoints
  courses_of_action: [implement-ml-model-runtime-security]
  cloud: aws
  logic: new-logic
  languages: [terraform, cloudformation]
  judges: {terraform: [aws_x]}
  fix: {terraform: "a = 1", cloudformation: "A: 1"}
""",
        "new.yaml",
    )
    with pytest.raises(MlstixError, match=r"MLSTIX-AWS-X-001: no 'judges' for cloudformation"):
        registry.check()


def test_judges_for_a_language_the_rule_does_not_list_is_refused() -> None:
    with pytest.raises(MlstixError, match="judges"):
        RuleRegistry().load_yaml(
            """
rules:
- id: MLSTIX-AWS-X-001
  title: something new
  severity: high
  vulnerability: exposed-model-endpoints
  courses_of_action: [implement-ml-model-runtime-security]
  cloud: aws
  logic: new-logic
  languages: [terraform]
  judges: {terraform: [aws_x], arm: [Microsoft.X/y]}
  fix: {terraform: "a = 1"}
""",
            "new.yaml",
        )


def _label(name: str) -> str | None:
    low = name.rsplit("/", 1)[-1].lower()
    return "fail" if low.startswith("fail") else "pass" if low.startswith("pass") else None


def _logic_cases() -> list[tuple[str, str]]:
    registry = default_registry()
    return sorted(
        (d.name, case.name)
        for d in FIXTURES.iterdir()
        if d.is_dir() and d.name in registry.rules and registry.rules[d.name].logic
        for case in d.iterdir()
        if case.is_dir()
    )


@pytest.mark.parametrize(("rule_id", "case"), _logic_cases(), ids="/".join)
def test_what_a_python_rule_flags_is_of_a_type_it_declares(rule_id: str, case: str) -> None:
    """On its fixtures, each resource the rule flags matches its ``judges``, and so does some
    pass_/fail_ resource: a rule whose logic starts judging a new type without declaring it
    fails here (at run time its finding still counts it as judged)."""
    registry = default_registry()
    rule = registry.get(rule_id)
    dialect = case.split("-", 1)[0]
    found = collect([FIXTURES / rule_id / case])
    patterns = rule.subjects(dialect)  # type: ignore[arg-type]
    assert patterns, f"{rule_id} declares nothing for {dialect}"
    assert rule.logic is not None
    hits = list(registry.logic[rule.logic](Context(tuple(found.resources))))
    stray = sorted(
        f"{h.resource.type} {h.resource.name}"
        for h in hits
        if h.resource.dialect == dialect
        and not any(subject_matches(p, h.resource) for p in patterns)
    )
    assert stray == [], f"{rule_id} flags types its 'judges' does not name"
    labelled = [r for r in found.resources if r.dialect == dialect and _label(r.name)]
    assert any(subject_matches(p, r) for r in labelled for p in patterns)
    narrowed = registry.subjects.get(rule.logic)
    if narrowed is not None:  # what it flags is among what it says it judges
        subjects = {id(r) for r in narrowed(Context(tuple(found.resources)))}
        unjudged = [h.resource.name for h in hits if id(h.resource) not in subjects]
        assert unjudged == [], f"{rule_id} flags resources its subjects leave out"
    # without the resources it flags, the pass_ ones it judges still make it have run
    clean = [r for r in found.resources if _label(r.name) != "fail"]
    passes = [r for r in clean if r.dialect == dialect and _label(r.name) == "pass"]
    if narrowed is not None:
        judged_ids = {id(r) for r in narrowed(Context(tuple(clean)))}
        passes = [r for r in passes if id(r) in judged_ids]
    if any(subject_matches(p, r) for r in passes for p in patterns if not r.data):
        judged = evaluate_isolated(registry, [rule], clean, None)
        assert judged.ran([rule]) == [rule_id], f"{rule_id} judged none of its pass_ resources"


def test_a_python_rule_declares_only_types_its_logic_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each exact type in ``judges`` is one the rule's logic asks the context for on its
    fixtures: a declaration cannot outlive the code that judged that type."""
    registry = default_registry()
    read: dict[str, set[tuple[str, str]]] = defaultdict(set)
    current = [""]
    of_type, in_scope = Context.of_type, Context.in_scope

    def recording_of_type(self: Context, dialect: str, *types: str) -> list[object]:
        read[current[0]].update((dialect, t) for t in types)
        return of_type(self, dialect, *types)  # type: ignore[return-value]

    def recording_in_scope(self: Context, scope: str, dialect: str, *types: str) -> list[object]:
        read[current[0]].update((dialect, t) for t in types)
        return in_scope(self, scope, dialect, *types)  # type: ignore[return-value]

    monkeypatch.setattr(Context, "of_type", recording_of_type)
    monkeypatch.setattr(Context, "in_scope", recording_in_scope)
    for rule_id, case in _logic_cases():
        rule = registry.get(rule_id)
        assert rule.logic is not None
        current[0] = rule_id
        found = collect([FIXTURES / rule_id / case])
        list(registry.logic[rule.logic](Context(tuple(found.resources))))
    unread = sorted(
        f"{rule.id}: {dialect} {pattern}"
        for rule in registry
        if rule.logic and rule.id in read
        for dialect in rule.dialects
        for pattern in rule.subjects(dialect)
        if not pattern.endswith("*") and (dialect, subject_type(pattern)) not in read[rule.id]
    )
    assert unread == []
