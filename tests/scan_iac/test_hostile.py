"""Hostile input: every parser is bounded, a bad file is an ``errors`` entry and the scan goes
on; property-based fuzzing (hypothesis) checks that no input reaches a traceback."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlstix.scan.iac import collect
from mlstix.scan.iac._hcl import HclSyntaxError, parse_blocks
from mlstix.scan.rules.iac import default_registry, evaluate

DEPTH = 5000
GOOD_TF = 'resource "aws_ecr_repository" "r" {\n  name = "x"\n}\n'
ARM_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


DEEP = {
    "arm.json": '{"$schema": "' + ARM_SCHEMA + '", "resources": [{"type": '
    '"Microsoft.Storage/storageAccounts", "name": "x", "properties": ' + _nested(DEPTH) + "}]}",
    "cfn.json": '{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"B": {"Type": '
    '"AWS::S3::Bucket", "Properties": ' + "[" * DEPTH + "]" * DEPTH + "}}}",
    "plan.json": '{"format_version": "1.2", "planned_values": {"root_module": {"resources": '
    '[{"address": "aws_s3_bucket.b", "type": "aws_s3_bucket", "name": "b", "values": '
    + _nested(DEPTH)
    + "}]}}}",
    "main.tf.json": '{"resource": {"aws_s3_bucket": {"b": ' + _nested(DEPTH) + "}}}",
    "cfn.yaml": "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  B:\n"
    "    Type: AWS::S3::Bucket\n    Properties: " + "[" * DEPTH + "]" * DEPTH + "\n",
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_documents_nested_5000_deep_are_errors_and_the_scan_goes_on(
    tmp_path: Path, name: str
) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / name).write_text(DEEP[name])
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "main.tf").write_text(GOOD_TF)
    found = collect([tmp_path])
    assert [r.name for r in found.resources] == ["r"]
    assert [e.path.endswith(name) for e in found.errors] == [True]
    assert "nest" in found.errors[0].message or "deep" in found.errors[0].message


def test_deep_json_through_the_cli_is_exit_2_with_a_report(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mlstix.cli.main import cli

    (tmp_path / "arm.json").write_text(DEEP["arm.json"])
    (tmp_path / "main.tf").write_text(GOOD_TF)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["scan", "iac", str(tmp_path), "-j", "1", "--format", "json", "-o", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    report = json.loads(out.read_text())
    assert [e["path"].endswith("arm.json") for e in report["errors"]] == [True]


# -- fuzzing -----------------------------------------------------------------------------------

_FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_ATOMS = st.sampled_from(
    [
        "1",
        "-2.5",
        "true",
        "null",
        '"s"',
        '"a-${var.x}"',
        "var.x",
        "var.m.k",
        "local.l",
        "each.key",
        "count.index",
        "aws_s3_bucket.b.id",
        "data.x.y.z",
        "[1, 2]",
        "{ a = 1 }",
        "var.l[0]",
        "var.l[*].x",
        "module.m.out",
        "path.module",
        '"%{ if true }x%{ endif }"',
    ]
)


def _expr() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        fn = st.sampled_from(
            [
                "merge",
                "lookup",
                "try",
                "coalesce",
                "concat",
                "format",
                "jsonencode",
                "toset",
                "flatten",
                "length",
                "element",
                "range",
                "join",
                "split",
                "can",
                "one",
                "keys",
                "upper",
                "replace",
                "zipmap",
                "nosuchfn",
            ]
        )
        op = st.sampled_from(["==", "!=", "&&", "||", "+", "-", "*", "/", "%", "<", ">="])
        return st.one_of(
            st.tuples(fn, st.lists(inner, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.tuples(inner, op, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
            inner.map(lambda e: f"[for v in {e} : v]"),
            inner.map(lambda e: f"!{e}"),
            st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
        )

    return st.recursive(_ATOMS, extend, max_leaves=12)


@_FUZZ
@given(exprs=st.lists(_expr(), min_size=1, max_size=4), count=st.sampled_from(["", "count = 3"]))
def test_terraform_evaluation_never_raises(tmp_path: Path, exprs: list[str], count: str) -> None:
    locals_ = "\n".join(f"  l{i} = {e}" for i, e in enumerate(exprs))
    attrs = "\n".join(f"  a{i} = {e}" for i, e in enumerate(exprs))
    (tmp_path / "main.tf").write_text(
        'variable "x" {}\nvariable "m" {\n  default = { k = "v" }\n}\n'
        'variable "l" {\n  default = [{ x = 1 }]\n}\n'
        f"locals {{\n  l = local.l0\n{locals_}\n}}\n"
        f'resource "aws_s3_bucket" "b" {{\n  {count}\n  dynamic "rule" {{\n'
        f"    for_each = {exprs[0]}\n    content {{\n      v = rule.value\n    }}\n  }}\n"
        f"{attrs}\n}}\n"
        f'module "m" {{\n  source = "./m"\n  x = {exprs[-1]}\n}}\n'
    )
    found = collect([tmp_path])
    registry = default_registry()
    evaluate(registry, list(registry), found.resources, None)


@_FUZZ
@given(
    text=st.text(
        alphabet=st.sampled_from(list('resourcdat "{}[]()=\n.$%~<-*#/\\ab1,?:!')), max_size=200
    )
)
def test_hcl_parser_returns_blocks_or_a_syntax_error(text: str) -> None:
    with contextlib.suppress(HclSyntaxError):
        parse_blocks(text)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)
_SHAPES = {
    "cfn.json": lambda d: {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Conditions": d,
        "Parameters": d,
        "Resources": {"R": {"Type": "AWS::S3::Bucket", "Condition": "C", "Properties": d}},
    },
    "arm.json": lambda d: {
        "$schema": ARM_SCHEMA,
        "parameters": d,
        "variables": d,
        "resources": [
            {
                "type": "Microsoft.Storage/storageAccounts",
                "name": "[parameters('x')]",
                "properties": d,
            }
        ],
    },
    "plan.json": lambda d: {
        "format_version": "1.2",
        "planned_values": {
            "root_module": {
                "resources": [{"address": "a.b", "type": "a", "name": "b", "values": d}],
                "child_modules": [d],
            }
        },
        "resource_changes": [d],
        "configuration": d,
    },
    "k8s.json": lambda d: {"apiVersion": "v1", "kind": "Pod", "metadata": d, "spec": d},
    # what the Kubeflow notebook rules read: a notebook's pod template, the Services, bindings and
    # limit ranges around it
    "kubeflow.json": lambda d: {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "kubeflow.org/v1",
                "kind": "Notebook",
                "metadata": {"name": "nb", "namespace": "a"},
                "spec": {"template": {"spec": d}},
            },
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": d},
            {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l"}, "spec": d},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "c"},
                "roleRef": d,
                "subjects": d,
            },
        ],
    },
    "loop.json": lambda d: {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Fn::ForEach::L": ["X", ["a", "b"], {"R${X}": d}], "Fn::ForEach::M": d},
    },
}


@_FUZZ
@given(doc=_JSON, shape=st.sampled_from(sorted(_SHAPES)))
def test_json_parsers_and_rules_never_raise(tmp_path: Path, doc: object, shape: str) -> None:
    (tmp_path / shape).write_text(json.dumps(_SHAPES[shape](doc)))
    found = collect([tmp_path])
    registry = default_registry()
    evaluate(registry, list(registry), found.resources, None)


@_FUZZ
@given(
    text=st.text(
        alphabet=st.sampled_from(
            list("Resources:AWSTemplateFormatVersion kind apiVersion!Ref &*[]{}\n-'\"")
        ),
        max_size=300,
    )
)
def test_yaml_parsers_never_raise(tmp_path: Path, text: str) -> None:
    (tmp_path / "t.yaml").write_text("AWSTemplateFormatVersion: x\n" + text)
    (tmp_path / "k.yaml").write_text("apiVersion: v1\nkind: Pod\n" + text)
    collect([tmp_path])


_TEMPLATE_BITS = st.sampled_from(
    ["${", "}", "%{", "~", " if ", " else ", " endif ", " for x in ", " endfor ", "var.l",
     "x", "true", "\n", " ", "a", "$${", "%%{", '\\"', "[", "]", ":"]
)  # fmt: skip


@_FUZZ
@given(bits=st.lists(_TEMPLATE_BITS, max_size=40), heredoc=st.booleans())
def test_templates_parse_or_fail_cleanly_and_evaluate(
    tmp_path: Path, bits: list[str], heredoc: bool
) -> None:
    body = "".join(bits)
    if heredoc:
        text = (
            'variable "l" {\n  default = [1]\n}\n'
            f'resource "x" "y" {{\n  v = <<-EOT\n{body}\nEOT\n}}\n'
        )
    else:
        text = (
            'variable "l" {\n  default = [1]\n}\nresource "x" "y" {\n  v = "'
            + body.replace("\n", " ")
            + '"\n}\n'
        )
    (tmp_path / "main.tf").write_text(text)
    found = collect([tmp_path])  # a syntax error is an errors entry, never an exception
    assert len(found.errors) <= 1
