"""Differential test: mlstix's Terraform evaluation against Terraform itself on the same files.

``terraform plan`` of ``terraform_data`` resources (Terraform's built-in provider, so nothing is
downloaded) gives the values Terraform computes for expressions, ``count``/``for_each``
instances, tfvars, null defaults, optional attributes and local module calls; mlstix must find
the same instances at the same addresses with the same values. Skipped, with the reason, when no
``terraform`` binary is on PATH.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlstix.scan.iac import collect

TERRAFORM = shutil.which("terraform")

ROOT = r"""
variable "env" {
  default = "dev"
}
variable "users" {
  type = map(object({
    instance_type = optional(string, "ml.t3.medium")
    root          = optional(bool, false)
  }))
  default = {}
}
variable "kms" {
  type    = string
  default = null
}
variable "replicas" {
  type    = number
  default = 1
}
locals {
  is_prod = var.env == "prod"
  base    = { team = "ml", env = var.env }
  tags    = merge(local.base, local.is_prod ? { tier = "1" } : {}, { owner = "platform" })
  names   = [for k, v in var.users : upper(k) if !v.root]
  by_type = { for k, v in var.users : v.instance_type => k... }
  flat    = flatten([["a", "b"], [["c"]], []])
  subnets = local.is_prod ? ["subnet-1", "subnet-2"] : []
}
resource "terraform_data" "notebook" {
  for_each = var.users
  input = {
    name     = "nb-${var.env}-${each.key}"
    type     = each.value.instance_type
    root     = each.value.root ? "Enabled" : "Disabled"
    internet = local.is_prod ? "Disabled" : "Enabled"
    kms      = var.kms
    subnet   = try(local.subnets[0], null)
    tags     = local.tags
  }
}
resource "terraform_data" "pool" {
  count = var.replicas + (local.is_prod ? 1 : 0)
  input = format("pool-%s-%02d", var.env, count.index)
}
resource "terraform_data" "files" {
  input = {
    config  = yamldecode(file("${path.module}/config.yaml"))
    exists  = [fileexists("config.yaml"), fileexists("nope.yaml")]
    scalars = yamldecode(join(", ", [
      "{a: n, b: yes, c: on, d: 010, e: 1:30, f: True, g: ~, h: 1.5, i: 0x1F",
      "k: 0o17, l: y, m: No, o: OFF, p: 1_000, q: 0b101, r: .5, s: +12}",
    ]))
    root    = path.root
  }
}
resource "terraform_data" "refs" {
  input = {
    pool      = terraform_data.pool[0].input
    pools     = [for p in terraform_data.pool : p.input]
    users     = { for k, n in terraform_data.notebook : k => n.input.root }
    file_root = terraform_data.files.input.root
  }
}
resource "terraform_data" "funcs" {
  input = {
    names      = local.names
    by_type    = local.by_type
    flat       = local.flat
    joined     = join(",", concat(local.flat, tolist(toset(["z", "a", "z"]))))
    lookup     = lookup(local.base, "missing", "dflt")
    coalesce   = coalesce(var.kms, "", "fallback")
    json       = jsonencode({ Statement = [{ Effect = "Allow", Action = ["s3:GetObject"] }] })
    decoded    = jsondecode("{\"a\": [1, 2, {\"b\": null}]}")
    replaced   = replace("a-b-c", "-", "_")
    regexish   = replace("model-v12", "/v(\\d+)/", "version$1")
    substr     = substr("abcdef", 1, 3)
    element    = element(["a", "b", "c"], 4)
    keys       = keys(local.tags)
    values     = values({ b = 2, a = 1 })
    length     = length(local.tags)
    range      = range(1, 7, 2)
    contains   = contains(local.flat, "c")
    zipmap     = zipmap(["a", "b"], [1, 2])
    one        = one([for n in local.flat : n if n == "b"])
    can        = can(local.base.nope)
    try        = try(local.base.nope, local.base.team)
    arith      = (10 - 4) * 3 / 2 % 5
    compare    = [1 < 2, 2 >= 3, "a" == "a", 1 != 1, true && !false, false || true]
    minmax     = [min(3, 1, 2), max(3, 1, 2), abs(-4), ceil(1.2), floor(1.8)]
    strings = [
      lower("AbC"), upper("abc"), trimspace("  x "), trimprefix("ml-x", "ml-"),
      trimsuffix("x.tf", ".tf"), title("hello world"),
    ]
    slices = [
      slice(["a", "b", "c", "d"], 1, 3), reverse([1, 2, 3]), distinct([1, 1, 2]),
      compact(["a", "", "b"]), sort(["b", "a"]),
    ]
    setunion   = setunion(["b", "a"], ["c", "a"])
    splat      = [for u in [{ n = "x" }, { n = "y" }] : u.n]
    heredoc    = <<-EOT
      line one ${var.env}
        indented
    EOT
    tostring   = tostring(12)
    tonumber   = tonumber("42")
    startswith = [
      startswith("sagemaker", "sage"), endswith("model.pt", ".pt"), strcontains("abc", "b"),
    ]
    split      = split(",", "a,b,,c")
    sets = [
      setintersection(["a", "b", "c"], ["b", "c", "d"]), setsubtract(["a", "b"], ["b"]),
      setproduct(["dev", "prod"], ["us", "eu"]), index(["x", "y"], "y"),
      formatlist("%s-%s", ["a", "b"], "z"), base64encode("ml"), base64decode("bWw="),
    ]
    directives = [
      "a%{ if local.is_prod }P%{ else }D%{ endif }b",
      "%{ for k, v in local.base ~}\n[${k}=${v}]\n%{~ endfor ~}\n!",
      <<EOT
  %{~ for n in local.flat ~}
  - ${n}
  %{ endfor ~}
%{ if length(local.flat) > 2 ~}
  many
%{~ endif }
EOT
      ,
      <<-EOT
        plain ${var.env}
          %{ if true }kept%{ endif }
      EOT
    ]
    format = format(
      "%s has %d items (%.1f%%) %q %t %5s|%-4s|", "x", 3, 12.345, "q", true, "r", "l",
    )
  }
}
module "endpoint" {
  source   = "../modules/endpoint"
  for_each = toset(["primary", "canary"])
  name     = "ep-${var.env}-${each.key}"
  kms      = each.key == "canary" ? null : var.kms
}
"""

MODULE = """
variable "name" {}
variable "kms" {
  default = null
}
variable "variants" {
  default = 2
}
resource "terraform_data" "variant" {
  count = var.variants
  input = {
    name   = "${var.name}-${count.index}"
    kms    = var.kms
    policy = jsondecode(file("${path.module}/policy.json"))
    module = path.module
    rendered = templatefile("${path.module}/bucket.json.tpl", {
      bucket  = "acme-${count.index}"
      actions = jsonencode(["s3:GetObject"])
    })
    rendered_nl = templatefile("${path.module}/nl.tpl", { n = count.index + 1 })
  }
}
output "names" {
  value = [for v in terraform_data.variant : v.input.name]
}
"""

TFVARS = """
env = "prod"
users = {
  alice = {}
  bob   = { root = true, instance_type = "ml.g5.xlarge" }
  carol = { instance_type = "ml.m5.large" }
}
kms      = "arn:aws:kms:eu-west-1:111122223333:key/k"
replicas = 2
"""


def _terraform_values(root: Path) -> dict[str, Any]:
    assert TERRAFORM is not None
    env = {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "PATH": "/usr/bin:/bin"}
    for args in (["init", "-input=false", "-backend=false"], ["plan", "-input=false", "-out=p"]):
        done = subprocess.run(
            [TERRAFORM, *args, "-no-color"], cwd=root, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    shown = subprocess.run(
        [TERRAFORM, "show", "-json", "p"], cwd=root, env=env, capture_output=True, text=True
    )
    plan = json.loads(shown.stdout)
    out: dict[str, Any] = {}

    def walk(module: dict[str, Any]) -> None:
        for res in module.get("resources", []):
            out[res["address"]] = res["values"].get("input")
        for child in module.get("child_modules", []):
            walk(child)

    walk(plan["planned_values"]["root_module"])
    return out


def _same(value: Any) -> Any:
    """JSON-equal form: Terraform writes whole floats as numbers like 9 or 9.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _same(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_same(v) for v in value]
    return value


@pytest.mark.skipif(TERRAFORM is None, reason="no terraform binary on PATH")
@pytest.mark.parametrize("with_tfvars", [False, True])
def test_evaluation_matches_terraform_plan(tmp_path: Path, with_tfvars: bool) -> None:
    root = tmp_path / "live"
    (root).mkdir()
    (tmp_path / "modules" / "endpoint").mkdir(parents=True)
    (root / "main.tf").write_text(ROOT)
    (tmp_path / "modules" / "endpoint" / "main.tf").write_text(MODULE)
    (tmp_path / "modules" / "endpoint" / "policy.json").write_text(
        '{"Statement": [{"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint"}]}'
    )
    (tmp_path / "modules" / "endpoint" / "bucket.json.tpl").write_text(
        '{"Resource": "arn:aws:s3:::${bucket}/*",\n "Action": ${actions}, "Esc": "$${x}"}'
    )
    (tmp_path / "modules" / "endpoint" / "nl.tpl").write_text("n=${n * 2}\n  indented\n")
    (root / "config.yaml").write_text("endpoints:\n  churn: {instance: ml.m5.large, n: 2}\n")
    if with_tfvars:
        (root / "terraform.tfvars").write_text(TFVARS)
    expected = _terraform_values(root)
    found = collect([root])
    assert not found.errors, found.errors
    ours = {r.address: r.attributes.get("input") for r in found.resources}
    assert sorted(ours) == sorted(expected)
    for address, value in expected.items():
        assert _same(ours[address]) == _same(value), address
