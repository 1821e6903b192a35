"""Terraform evaluation: each feature with the addresses and findings it must produce."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from mlstix.scan.iac import Options, collect
from mlstix.scan.iac._values import Expr
from mlstix.scan.rules.iac import default_registry, evaluate
from tests.scan_iac.files import write_tree as _write

NB = """
resource "aws_sagemaker_notebook_instance" "{name}" {{
  {meta}
  name                   = "nb"
  role_arn               = "r"
  instance_type          = "ml.t3.medium"
  direct_internet_access = {dia}
  root_access            = "Disabled"
  kms_key_id             = "k"
  subnet_id              = "s"
}}
"""


def _hits(found: Any, rule_id: str) -> list[str]:
    registry = default_registry()
    findings = evaluate(registry, [registry.get(rule_id)], found.resources, None)
    return sorted(f.location.resource or "" for f in findings)


def _attrs(found: Any) -> dict[str, Any]:
    return {r.address: dict(r.attributes) for r in found.resources}


def test_for_each_over_a_tfvars_map_gives_each_instance_its_address_and_finding(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
variable "users" {
  type    = map(object({ internet = optional(bool, false) }))
  default = {}
}
resource "aws_sagemaker_notebook_instance" "users" {
  for_each               = var.users
  name                   = "nb-${each.key}"
  role_arn               = "r"
  instance_type          = "ml.t3.medium"
  direct_internet_access = each.value.internet ? "Enabled" : "Disabled"
}
""",
            "terraform.tfvars": "users = {\n  alice = {}\n  bob = { internet = true }\n}\n",
        },
    )
    found = collect([tmp_path])
    assert not found.errors
    attrs = _attrs(found)
    assert sorted(attrs) == [
        'aws_sagemaker_notebook_instance.users["alice"]',
        'aws_sagemaker_notebook_instance.users["bob"]',
    ]
    assert attrs['aws_sagemaker_notebook_instance.users["alice"]']["name"] == "nb-alice"
    # optional(bool, false) fills alice's missing attribute
    assert _hits(found, "MLSTIX-AWS-SM-001") == ['aws_sagemaker_notebook_instance.users["bob"]']
    line = next(r.line for r in found.resources)
    assert (tmp_path / "main.tf").read_text().splitlines()[line - 1].startswith("resource")


def test_count_conditionals_and_merge_over_locals(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
variable "env" {
  default = "dev"
}
variable "create_legacy" {
  default = false
}
locals {
  is_prod = var.env == "prod"
  base    = { team = "ml" }
  tags    = merge(local.base, { env = var.env }, local.is_prod ? { tier = "1" } : {})
  names   = ["a", "b", "c"]
}
resource "aws_sagemaker_notebook_instance" "pool" {
  count                  = length(local.names)
  name                   = format("nb-%s-%02d", local.names[count.index], count.index)
  role_arn               = "r"
  instance_type          = "ml.t3.medium"
  direct_internet_access = !local.is_prod && count.index > 0 ? "Enabled" : "Disabled"
  tags                   = local.tags
}
resource "aws_sagemaker_notebook_instance" "legacy" {
  count         = var.create_legacy ? 1 : 0
  name          = "old"
  role_arn      = "r"
  instance_type = "ml.t3.medium"
}
""",
        },
    )
    found = collect([tmp_path], options=Options(variables=(("env", "staging"),)))
    attrs = _attrs(found)
    assert sorted(attrs) == [f"aws_sagemaker_notebook_instance.pool[{i}]" for i in range(3)]
    assert attrs["aws_sagemaker_notebook_instance.pool[1]"]["name"] == "nb-b-01"
    assert attrs["aws_sagemaker_notebook_instance.pool[0]"]["tags"] == {
        "team": "ml",
        "env": "staging",
    }
    assert _hits(found, "MLSTIX-AWS-SM-001") == [
        "aws_sagemaker_notebook_instance.pool[1]",
        "aws_sagemaker_notebook_instance.pool[2]",
    ]
    prod = collect([tmp_path], options=Options(variables=(("env", "prod"),)))
    assert _hits(prod, "MLSTIX-AWS-SM-001") == []
    assert _attrs(prod)["aws_sagemaker_notebook_instance.pool[0]"]["tags"]["tier"] == "1"


def test_null_default_is_unset_and_a_variable_without_value_is_unknown(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
variable "kms" {
  type    = string
  default = null
}
variable "subnet" {
  type = string
}
resource "aws_sagemaker_notebook_instance" "nb" {
  name          = "nb"
  role_arn      = "r"
  instance_type = "ml.t3.medium"
  kms_key_id    = var.kms
  subnet_id     = var.subnet
}
""",
        },
    )
    found = collect([tmp_path])
    attrs = _attrs(found)["aws_sagemaker_notebook_instance.nb"]
    assert "kms_key_id" not in attrs  # null: the argument is not set
    assert isinstance(attrs["subnet_id"], Expr)  # no value anywhere: unknown, not absent
    assert _hits(found, "MLSTIX-AWS-SM-003") == ["aws_sagemaker_notebook_instance.nb"]
    assert _hits(found, "MLSTIX-AWS-SM-004") == []


def test_var_file_and_auto_tfvars_order(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": 'variable "dia" {\n  default = "Disabled"\n}\n'
            + NB.format(name="nb", meta="", dia="var.dia"),
            "terraform.tfvars": 'dia = "Enabled"\n',
            "b.auto.tfvars": 'dia = "Disabled"\n',
            "a.auto.tfvars": 'dia = "Enabled"\n',
        },
    )
    assert _hits(collect([tmp_path]), "MLSTIX-AWS-SM-001") == []  # b.auto.tfvars is last
    extra = tmp_path.parent / "prod.tfvars.json"
    extra.write_text(json.dumps({"dia": "Enabled"}))
    from mlstix.scan.iac.collect import read_var_file

    options = Options(var_files=((str(extra), read_var_file(extra)),))
    assert _hits(collect([tmp_path], options=options), "MLSTIX-AWS-SM-001") == [
        "aws_sagemaker_notebook_instance.nb"
    ]


def test_dynamic_block_that_produces_the_encryption_block_counts_as_present(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
variable "cmk" {
  default = { key_vault_id = "kv", key_id = "https://kv.vault.azure.net/keys/ml/1" }
}
variable "unknown_keys" {}
resource "azurerm_machine_learning_workspace" "pass_dynamic" {
  name = "w1"
  dynamic "encryption" {
    for_each = var.cmk == null ? [] : [var.cmk]
    content {
      key_vault_id = encryption.value.key_vault_id
      key_id       = encryption.value.key_id
    }
  }
}
resource "azurerm_machine_learning_workspace" "pass_unknown" {
  name = "w2"
  dynamic "encryption" {
    for_each = var.unknown_keys
    iterator = k
    content {
      key_id = k.value
    }
  }
}
resource "azurerm_machine_learning_workspace" "fail_empty" {
  name = "w3"
  dynamic "encryption" {
    for_each = []
    content {
      key_id = "x"
    }
  }
}
""",
        },
    )
    found = collect([tmp_path])
    attrs = _attrs(found)
    assert attrs["azurerm_machine_learning_workspace.pass_dynamic"]["encryption"] == [
        {"key_vault_id": "kv", "key_id": "https://kv.vault.azure.net/keys/ml/1"}
    ]
    assert _hits(found, "MLSTIX-AZ-ML-002") == ["azurerm_machine_learning_workspace.fail_empty"]


def test_local_module_outside_the_scanned_folder_with_for_each_and_outputs(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {
            "live/prod/main.tf": """
module "kms" {
  source = "../../modules/kms"
}
module "endpoint" {
  source   = "../../modules/endpoint"
  for_each = { public = "", private = "x" }
  name     = "ep-${each.key}"
  kms      = each.value == "" ? null : module.kms.arn
}
""",
            "modules/kms/main.tf": 'output "arn" {\n  value = "arn:aws:kms:eu-west-1:1:key/k"\n}\n',
            "modules/endpoint/main.tf": """
variable "name" {}
variable "kms" {
  default = null
}
resource "aws_sagemaker_endpoint_configuration" "this" {
  name        = var.name
  kms_key_arn = var.kms
  production_variants {
    variant_name  = "v"
    model_name    = "m"
    instance_type = "ml.m5.large"
  }
}
""",
        },
    )
    found = collect([tmp_path / "live" / "prod"])
    assert not found.errors
    assert _hits(found, "MLSTIX-AWS-SM-007") == [
        'module.endpoint["public"].aws_sagemaker_endpoint_configuration.this'
    ]
    private = _attrs(found)['module.endpoint["private"].aws_sagemaker_endpoint_configuration.this']
    assert private["kms_key_arn"] == "arn:aws:kms:eu-west-1:1:key/k"
    shown = {s.path for s in found.scanned}
    assert str(tmp_path / "modules" / "endpoint" / "main.tf") in shown


def test_remote_module_not_on_disk_is_an_error_with_its_address(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
module "bucket" {
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "4.1.0"
}
module "installed" {
  source = "git::https://example.com/nb.git"
}
""",
            ".terraform/modules/modules.json": json.dumps(
                {
                    "Modules": [
                        {"Key": "installed", "Source": "git::x", "Dir": ".terraform/modules/nb"}
                    ]
                }
            ),
            ".terraform/modules/nb/main.tf": NB.format(name="fail", meta="", dia='"Enabled"'),
        },
    )
    found = collect([tmp_path])
    assert [e.message.split(":")[0] for e in found.errors] == ["module.bucket"]
    assert "not on disk" in found.errors[0].message
    assert _hits(found, "MLSTIX-AWS-SM-001") == [
        "module.installed.aws_sagemaker_notebook_instance.fail"
    ]


def test_unknown_stays_unknown(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
data "google_project" "p" {}
variable "flag" {}
resource "aws_sagemaker_notebook_instance" "nb" {
  name                   = "nb"
  role_arn               = "r"
  instance_type          = "ml.t3.medium"
  direct_internet_access = var.flag ? "Enabled" : "Disabled"
  root_access            = try(var.flag.x, "Disabled")
  kms_key_id             = timestamp()
  subnet_id              = coalesce(var.flag, "subnet-1")
  tags = {
    sa   = "${data.google_project.p.number}-compute@developer.gserviceaccount.com"
    same = var.flag ? "x" : "x"
  }
}
""",
        },
    )
    attrs = _attrs(collect([tmp_path]))["aws_sagemaker_notebook_instance.nb"]
    assert attrs["direct_internet_access"] == Expr('${var.flag ? "Enabled" : "Disabled"}')
    assert isinstance(attrs["root_access"], Expr)
    assert isinstance(attrs["kms_key_id"], Expr)
    assert isinstance(attrs["subnet_id"], Expr)
    assert attrs["tags"] == {
        "sa": Expr("${data.google_project.p.number}-compute@developer.gserviceaccount.com"),
        "same": "x",
    }


def test_companion_resources_pair_by_instance(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
resource "aws_s3_bucket" "models" {
  for_each = toset(["prod", "dev"])
  bucket   = "acme-models-${each.key}"
}
resource "aws_s3_bucket_versioning" "models" {
  bucket = aws_s3_bucket.models["prod"].id
  versioning_configuration {
    status = "Enabled"
  }
}
""",
        },
    )
    found = collect([tmp_path])
    assert _hits(found, "MLSTIX-AWS-S3-001") == ['aws_s3_bucket.models["dev"]']


def test_functions_and_for_expressions(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
locals {
  envs = { prod = { public = false }, dev = { public = true } }
  public = [for k, v in local.envs : k if v.public]
  by_env = { for k, v in local.envs : upper(k) => !v.public }
  flat   = flatten([["a"], ["b", ["c"]]])
  joined = join(",", concat(local.flat, tolist(toset(["z", "a"]))))
  look   = lookup(local.envs.prod, "missing", "dflt")
  json   = jsonencode({ Statement = [{ Effect = "Allow", Action = "s3:*" }] })
  text   = replace(trimspace("  a-b  "), "-", "_")
  nums   = [for i in range(3) : i * 2]
  keys   = keys(local.envs)
  one    = one([for k in keys(local.envs) : k if k == "dev"])
}
resource "x_thing" "t" {
  v = [local.public, local.by_env, local.joined, local.look, local.json, local.text,
       local.nums, local.keys, local.one, substr("abcdef", 1, 3), element(["a", "b"], 3)]
}
""",
        },
    )
    found = collect([tmp_path])
    assert _attrs(found)["x_thing.t"]["v"] == [
        ["dev"],
        {"DEV": False, "PROD": True},
        "a,b,c,a,z",
        "dflt",
        '{"Statement":[{"Action":"s3:*","Effect":"Allow"}]}',
        "a_b",
        [0, 2, 4],
        ["dev", "prod"],
        "dev",
        "bcd",
        "b",
    ]


def test_hostile_terraform_is_bounded(tmp_path: Path) -> None:
    locals_chain = "\n".join(f"  l{i} = concat(local.l{i + 1}, local.l{i + 1})" for i in range(40))
    _write(
        tmp_path,
        {
            "main.tf": f"""
locals {{
{locals_chain}
  l40 = ["x"]
  self = local.self
}}
resource "x_thing" "t" {{
  count = 100000000
  a     = length(local.l0)
  b     = local.self
  c     = range(1000000000)
}}
""",
        },
    )
    found = collect([tmp_path])
    assert len(found.resources) == 10_000
    assert "count 100000000" in found.errors[0].message
    attrs = found.resources[0].attributes
    assert all(isinstance(attrs[k], Expr) for k in "abc")


def test_evaluation_budget_is_an_error_and_leaves_values_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlstix.scan.iac._tfmodule as tfmodule

    monkeypatch.setattr(tfmodule, "STEP_BUDGET", 500)
    _write(
        tmp_path,
        {
            "main.tf": """
resource "x_thing" "t" {
  a = "ok"
  b = [for i in range(100) : [for j in range(100) : i * j]]
  c = upper("late")
}
""",
        },
    )
    found = collect([tmp_path])
    attrs = found.resources[0].attributes
    assert attrs["a"] == "ok"
    assert isinstance(attrs["b"], Expr) and isinstance(attrs["c"], Expr)
    assert [e.message.split(" (")[0] for e in found.errors] == ["evaluation budget spent"]


def test_parsed_modules_pickle_for_worker_processes(tmp_path: Path) -> None:
    from mlstix.scan.iac.terraform import load_dir

    path = tmp_path / "main.tf"
    path.write_text(NB.format(name="nb", meta="count = var.n", dia="var.x ? 1 : 2"))
    tfdir = load_dir(tmp_path, [path], {})
    assert pickle.loads(pickle.dumps(tfdir)).blocks[0].body == tfdir.blocks[0].body


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ('["a", "b"]', ["a", "b"]), ("{ a = 1 }", {"a": 1})],
)
def test_cli_var_values_follow_the_variable_type(
    tmp_path: Path, value: str, expected: object
) -> None:
    kind = {"true": "bool"}.get(value, "any")
    _write(
        tmp_path,
        {
            "main.tf": f'variable "v" {{\n  type = {kind}\n}}\n'
            'resource "x_t" "t" {\n  v = var.v\n}\n'
        },
    )
    found = collect([tmp_path], options=Options(variables=(("v", value),)))
    assert _attrs(found)["x_t.t"]["v"] == expected


def test_large_files_parse_in_chunks_with_the_same_blocks_and_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlstix.scan.iac import _hcl

    parts = []
    for i in range(3000):
        parts.append(f'resource "aws_s3_bucket" "b{i}" {{\n  bucket = "models-{i}"\n}}\n')
        if i == 1500:  # a heredoc holding what looks like a block boundary
            parts.append(
                'resource "aws_iam_policy" "p" {\n  policy = <<EOT\n{\n}\n'
                'resource "x" "y" {\n}\nEOT\n}\n'
            )
    text = "".join(parts)
    monkeypatch.setattr(_hcl, "CHUNK_BYTES", 4096)
    chunked = _hcl.parse_blocks(text)
    monkeypatch.setattr(_hcl, "CHUNK_BYTES", len(text) + 1)
    whole = _hcl.parse_blocks(text)
    assert [(b.labels, b.line, b.body) for b in chunked] == [
        (b.labels, b.line, b.body) for b in whole
    ]
    assert len(whole) == 3001
    lines = text.splitlines()
    assert all(lines[b.line - 1].startswith(f'resource "{b.labels[0]}"') for b in chunked)


def test_registry_module_idioms(tmp_path: Path) -> None:
    """Idioms of terraform-aws-modules and platform code: create flags, lists of objects turned
    into maps, nested local modules, outputs feeding other modules, nested dynamic blocks."""
    _write(
        tmp_path,
        {
            "env/main.tf": """
variable "create" {
  default = true
}
variable "users" {
  default = [
    { name = "ana", internet = false },
    { name = "ben", internet = true },
  ]
}
variable "settings" {
  default = {}
}
module "platform" {
  source  = "../modules/platform"
  create  = var.create
  users   = { for u in var.users : u.name => u }
  kms_arn = lookup(var.settings, "kms_arn", null)
}
module "serving" {
  source = "../modules/serving"
  role   = module.platform.role_name
}
""",
            "modules/platform/main.tf": """
variable "create" {}
variable "users" {}
variable "kms_arn" {
  default = null
}
resource "aws_kms_key" "this" {
  count = var.create && var.kms_arn == null ? 1 : 0
}
module "notebooks" {
  source   = "./notebooks"
  for_each = var.create ? var.users : {}
  name     = each.key
  internet = each.value.internet
  kms      = coalesce(var.kms_arn, try(aws_kms_key.this[0].arn, ""))
}
output "role_name" {
  value = "sagemaker-${length(var.users)}-users"
}
""",
            "modules/platform/notebooks/main.tf": """
variable "name" {}
variable "internet" {}
variable "kms" {}
resource "aws_sagemaker_notebook_instance" "this" {
  name                   = var.name
  role_arn               = "r"
  instance_type          = "ml.t3.medium"
  direct_internet_access = var.internet ? "Enabled" : "Disabled"
  kms_key_id             = var.kms
}
""",
            "modules/serving/main.tf": """
variable "role" {}
variable "rules" {
  default = [{ name = "a", ports = [443] }]
}
resource "aws_sagemaker_model" "this" {
  name               = "m"
  execution_role_arn = "arn:aws:iam::1:role/${var.role}"
  primary_container {
    image = "x"
  }
  dynamic "vpc_config" {
    for_each = var.rules
    content {
      subnets            = [for p in vpc_config.value.ports : "subnet-${p}"]
      security_group_ids = ["sg-${vpc_config.value.name}"]
    }
  }
}
""",
        },
    )
    found = collect([tmp_path / "env"])
    assert not found.errors, found.errors
    attrs = _attrs(found)
    ben = 'module.platform.module.notebooks["ben"].aws_sagemaker_notebook_instance.this'
    assert ben in attrs
    assert isinstance(attrs[ben]["kms_key_id"], Expr)  # the created key: known after apply
    assert "aws_kms_key.this[0]" in attrs[ben]["kms_key_id"]
    assert _hits(found, "MLSTIX-AWS-SM-001") == [ben]
    assert _hits(found, "MLSTIX-AWS-SM-003") == []
    model = attrs["module.serving.aws_sagemaker_model.this"]
    assert model["execution_role_arn"] == "arn:aws:iam::1:role/sagemaker-2-users"
    assert model["vpc_config"] == [{"subnets": ["subnet-443"], "security_group_ids": ["sg-a"]}]
    assert _hits(found, "MLSTIX-AWS-SM-006") == []


def test_plan_json_instances_keep_their_keys(tmp_path: Path) -> None:
    plan = {
        "format_version": "1.2",
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        "address": 'aws_sagemaker_notebook_instance.users["bob"]',
                        "mode": "managed",
                        "type": "aws_sagemaker_notebook_instance",
                        "name": "users",
                        "index": "bob",
                        "values": {"direct_internet_access": "Enabled"},
                    },
                    {
                        "address": "aws_sagemaker_notebook_instance.pool[1]",
                        "mode": "managed",
                        "type": "aws_sagemaker_notebook_instance",
                        "name": "pool",
                        "index": 1,
                        "values": {"direct_internet_access": "Disabled"},
                    },
                ]
            }
        },
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    found = collect([tmp_path])
    assert sorted(_attrs(found)) == [
        "aws_sagemaker_notebook_instance.pool[1]",
        'aws_sagemaker_notebook_instance.users["bob"]',
    ]
    assert _hits(found, "MLSTIX-AWS-SM-001") == ['aws_sagemaker_notebook_instance.users["bob"]']


def test_file_reads_policies_beside_the_modules_and_nothing_else(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("aws_secret_access_key = hunter2\n")
    _write(
        tmp_path,
        {
            "live/main.tf": f"""
module "roles" {{
  source = "../modules/roles"
}}
resource "aws_sagemaker_notebook_instance" "nb" {{
  name          = "nb"
  role_arn      = "r"
  instance_type = "ml.t3.medium"
  tags = {{
    leak     = file("{outside}")
    relative = file("../secret.txt")
    cfg      = yamldecode(file("settings.yaml")).team
  }}
}}
""",
            "live/settings.yaml": "team: ml\n",
            "modules/roles/main.tf": """
resource "aws_iam_policy" "fail_wildcard" {
  name   = "sm-all"
  policy = file("${path.module}/policies/sagemaker.json")
}
""",
            "modules/roles/policies/sagemaker.json": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}],
                }
            ),
        },
    )
    found = collect([tmp_path / "live"])
    assert not found.errors
    tags = _attrs(found)["aws_sagemaker_notebook_instance.nb"]["tags"]
    assert isinstance(tags["leak"], Expr) and isinstance(tags["relative"], Expr)
    assert "hunter2" not in json.dumps({k: str(v) for k, v in tags.items()})
    assert tags["cfg"] == "ml"
    assert _hits(found, "MLSTIX-AWS-IAM-001") == ["module.roles.aws_iam_policy.fail_wildcard"]


def test_flush_heredoc_with_stripped_directives_stays_unknown(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
resource "x_t" "t" {
  v = <<-EOT
    %{~ for n in ["a", "b"] ~}
    - ${n}
    %{ endfor ~}
  EOT
  w = "%{ for n in ["a", "b"] }${n};%{ endfor }"
}
""",
        },
    )
    attrs = _attrs(collect([tmp_path]))["x_t.t"]
    assert isinstance(attrs["v"], Expr)
    assert attrs["w"] == "a;b;"


def test_references_to_resources_resolve_configured_arguments_only(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
resource "aws_s3_bucket" "models" {
  for_each = toset(["prod", "dev"])
  bucket   = "acme-models-${each.key}"
}
resource "aws_kms_key" "ml" {
  description = "ml"
}
resource "aws_sagemaker_model" "m" {
  name               = "churn"
  execution_role_arn = "r"
  primary_container {
    image          = "x"
    model_data_url = "s3://${aws_s3_bucket.models["prod"].bucket}/churn.tar.gz"
  }
}
resource "aws_sagemaker_endpoint_configuration" "ec" {
  name        = "ec-${aws_sagemaker_model.m.name}"
  kms_key_arn = aws_kms_key.ml.arn
  production_variants {
    variant_name  = "v"
    model_name    = aws_sagemaker_model.m.name
    instance_type = "ml.m5.large"
  }
}
resource "x_loop" "a" {
  v = x_loop.b.v
}
resource "x_loop" "b" {
  v = x_loop.a.v
}
""",
        },
    )
    found = collect([tmp_path])
    attrs = _attrs(found)
    ec = attrs["aws_sagemaker_endpoint_configuration.ec"]
    assert ec["name"] == "ec-churn"
    assert ec["production_variants"][0]["model_name"] == "churn"
    assert ec["kms_key_arn"] == Expr("${aws_kms_key.ml.arn}")  # computed by the provider
    model = attrs["aws_sagemaker_model.m"]
    assert model["primary_container"][0]["model_data_url"] == "s3://acme-models-prod/churn.tar.gz"
    assert isinstance(attrs["x_loop.a"]["v"], Expr)  # a cycle stays unknown
    assert _hits(found, "MLSTIX-AWS-SM-007") == []
    # the model bucket is found through the model that reads from it
    assert 'aws_s3_bucket.models["prod"]' in _hits(found, "MLSTIX-AWS-S3-001")


def test_kubernetes_manifests_declared_in_terraform_are_judged(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.tf": """
variable "model" {
  default = "Qwen/Qwen2-7B-Instruct"
}
variable "image_tag" {}
resource "kubectl_manifest" "vllm" {
  yaml_body = <<-YAML
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: vllm
      namespace: llm
    spec:
      selector:
        matchLabels: {app: vllm}
      template:
        metadata:
          labels: {app: vllm}
        spec:
          containers:
          - name: vllm
            image: vllm/vllm-openai:${var.image_tag}
            args: ["--model", "${var.model}", "--trust-remote-code"]
  YAML
}
resource "kubernetes_manifest" "ray" {
  manifest = {
    apiVersion = "ray.io/v1"
    kind       = "RayCluster"
    metadata   = { name = "raycluster", namespace = "ray" }
    spec = {
      headGroupSpec = {
        serviceType    = "LoadBalancer"
        rayStartParams = {}
        template = {
          spec = { containers = [{ name = "head", image = "rayproject/ray:2.9.0" }] }
        }
      }
    }
  }
}
""",
        },
    )
    found = collect([tmp_path])
    assert not found.errors
    by_address = {r.address: r for r in found.resources}
    vllm = by_address["Deployment/llm/vllm"]
    assert vllm.file.endswith("main.tf") and vllm.line == 6
    args = vllm.attributes["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[1] == "Qwen/Qwen2-7B-Instruct"
    assert _hits(found, "MLSTIX-K8S-SRV-012") == ["Deployment/llm/vllm"]
    assert _hits(found, "MLSTIX-K8S-SRV-010") == ["RayCluster/ray/raycluster"]
    assert _hits(found, "MLSTIX-K8S-SRV-014") == [
        "RayCluster/ray/raycluster"
    ]  # vllm's tag: unknown


def test_nested_remote_modules_installed_by_terraform_init(tmp_path: Path) -> None:
    manifest = {
        "Modules": [
            {"Key": "", "Source": "", "Dir": "."},
            {
                "Key": "ml",
                "Source": "registry.terraform.io/acme/ml/aws",
                "Dir": ".terraform/modules/ml",
            },
            {
                "Key": "ml.kms",
                "Source": "registry.terraform.io/acme/kms/aws",
                "Dir": ".terraform/modules/ml.kms",
            },
        ]
    }
    _write(
        tmp_path,
        {
            "main.tf": 'module "ml" {\n  source  = "acme/ml/aws"\n  version = "1.0.0"\n}\n',
            ".terraform/modules/modules.json": json.dumps(manifest),
            ".terraform/modules/ml/main.tf": """
module "kms" {
  source = "acme/kms/aws"
}
module "notebook" {
  source  = "./modules/notebook"
  kms_arn = module.kms.arn
}
""",
            ".terraform/modules/ml/modules/notebook/main.tf": """
variable "kms_arn" {}
resource "aws_sagemaker_notebook_instance" "this" {
  name          = "nb"
  role_arn      = "r"
  instance_type = "ml.t3.medium"
  kms_key_id    = var.kms_arn
}
""",
            ".terraform/modules/ml.kms/main.tf": """
output "arn" {
  value = "arn:aws:kms:eu-west-1:111122223333:key/k"
}
""",
        },
    )
    found = collect([tmp_path])
    assert not found.errors, found.errors
    nb = _attrs(found)["module.ml.module.notebook.aws_sagemaker_notebook_instance.this"]
    assert nb["kms_key_id"] == "arn:aws:kms:eu-west-1:111122223333:key/k"
