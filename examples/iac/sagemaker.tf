# A small SageMaker deployment with typical gaps, for `mlstix demo` and `mlstix scan iac`.

variable "model_bucket_name" {
  type    = string
  default = "acme-fraud-models"
}

resource "aws_kms_key" "models" {
  description         = "CMK for model artifacts and endpoint volumes"
  enable_key_rotation = true
}

# Holds model.tar.gz artifacts: no versioning, no Object Lock, no default KMS encryption.
resource "aws_s3_bucket" "models" {
  bucket = var.model_bucket_name
}

# direct_internet_access and root_access are not set: both default to "Enabled".
resource "aws_sagemaker_notebook_instance" "research" {
  name          = "fraud-research"
  role_arn      = "arn:aws:iam::123456789012:role/sagemaker-research"
  instance_type = "ml.t3.medium"
}

resource "aws_sagemaker_model" "fraud" {
  name               = "fraud-detector"
  execution_role_arn = "arn:aws:iam::123456789012:role/sagemaker-inference"

  primary_container {
    image          = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3.0-cpu-py311"
    model_data_url = "s3://${aws_s3_bucket.models.bucket}/fraud/model.tar.gz"
  }
}

resource "aws_sagemaker_endpoint_configuration" "fraud" {
  name        = "fraud-detector"
  kms_key_arn = aws_kms_key.models.arn

  production_variants {
    variant_name           = "primary"
    model_name             = aws_sagemaker_model.fraud.name
    initial_instance_count = 1
    instance_type          = "ml.m5.large"
  }
}
