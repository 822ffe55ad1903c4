terraform {
  required_version = ">= 1.5.0"

  required_providers {
    # Below 6: Chalice's generated Terraform (chalice.tf.json) still sets
    # arguments that version 6 removed, such as the deployment's stage_name.
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}
