# A SageMaker real-time endpoint: model, endpoint configuration, endpoint.
variable "name" {
  type = string
}
variable "image" {
  type = string
}
variable "model_data_url" {
  type = string
}
variable "role_arn" {
  type = string
}
variable "instance_type" {
  type    = string
  default = "ml.m5.large"
}
variable "kms_key_arn" {
  type    = string
  default = null
}
variable "subnet_ids" {
  type    = list(string)
  default = []
}
variable "security_group_ids" {
  type    = list(string)
  default = []
}

resource "aws_sagemaker_model" "this" {
  name                     = var.name
  execution_role_arn       = var.role_arn
  enable_network_isolation = true
  primary_container {
    image          = var.image
    model_data_url = var.model_data_url
  }
  dynamic "vpc_config" {
    for_each = length(var.subnet_ids) > 0 ? [1] : []
    content {
      subnets            = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  name        = var.name
  kms_key_arn = var.kms_key_arn
  production_variants {
    variant_name           = "main"
    model_name             = aws_sagemaker_model.this.name
    instance_type          = var.instance_type
    initial_instance_count = 1
  }
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = var.name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name
}

output "endpoint_name" {
  value = aws_sagemaker_endpoint.this.name
}
