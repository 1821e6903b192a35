env = "prod"
notebook_users = {
  alice = {}
  bob   = { root_access = true }
}
endpoints = {
  churn = {
    image          = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/sklearn-serve:1.4"
    model_data_url = "s3://acme-prod-models/churn/v7/model.tar.gz"
  }
  llm = {
    image          = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.3"
    model_data_url = "s3://acme-prod-models/llm/v2/model.tar.gz"
    instance_type  = "ml.g5.2xlarge"
  }
}
