# The production ML platform: one notebook per data scientist, one endpoint per model.
# Scan this folder as it is deployed: `mlstix scan iac examples/iac/platform/live/prod`.
variable "env" {
  type    = string
  default = "dev"
}
variable "notebook_users" {
  type = map(object({
    instance_type = optional(string, "ml.t3.medium")
    root_access   = optional(bool, false)
  }))
  default = {}
}
variable "endpoints" {
  type = map(object({
    image          = string
    model_data_url = string
    instance_type  = optional(string, "ml.m5.large")
  }))
  default = {}
}
variable "kms_key_arn" {
  type    = string
  default = null
}

locals {
  is_prod      = var.env == "prod"
  private_subs = local.is_prod ? ["subnet-0a1b2c3d", "subnet-4e5f6a7b"] : []
  tags         = merge({ team = "ml-platform", env = var.env }, local.is_prod ? { tier = "1" } : {})
}

resource "aws_sagemaker_notebook_instance" "users" {
  for_each               = var.notebook_users
  name                   = "nb-${var.env}-${each.key}"
  role_arn               = "arn:aws:iam::111122223333:role/sagemaker-notebook"
  instance_type          = each.value.instance_type
  root_access            = each.value.root_access ? "Enabled" : "Disabled"
  direct_internet_access = local.is_prod ? "Disabled" : "Enabled"
  subnet_id              = try(local.private_subs[0], null)
  kms_key_id             = var.kms_key_arn
  tags                   = local.tags
}

module "endpoint" {
  source         = "../../modules/endpoint"
  for_each       = var.endpoints
  name           = "${var.env}-${each.key}"
  image          = each.value.image
  model_data_url = each.value.model_data_url
  instance_type  = each.value.instance_type
  role_arn       = "arn:aws:iam::111122223333:role/sagemaker-execution"
  kms_key_arn    = var.kms_key_arn
  subnet_ids     = local.private_subs
}
