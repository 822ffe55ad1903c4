"""Merge Chalice's generated Terraform (chalice.tf.json) into the infra/ configuration.

``chalice package --pkg-format terraform`` writes a stand-alone configuration.
To apply it together with infra/ (one plan, one state, references both ways)
this script adapts it and copies it beside the hand-written files:

- drops Chalice's ``terraform`` block: its version pins (AWS provider < 5,
  Terraform < 1.4) contradict infra/versions.tf, which owns the pins;
- drops the ``null_data_source`` Chalice adds only as a label (deprecated,
  and it would pull in the null provider);
- on every Lambda function: checks the VPC settings are there, sets the
  environment to ``local.api_environment`` (infra/api.tf: the one list of the
  deployed API's settings, so .chalice/config.json repeats none of them),
  encrypts it (it holds REDIS_URL) with the service's KMS key, turns on X-Ray
  tracing, and makes the function wait for its role policy (the ENI
  permissions are checked when the function is created) and its log group.

Usage: python scripts/chalice_tf.py <chalice package output dir> <infra dir>
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

GENERATED_NAME = "chalice.tf.json"
PACKAGE_NAME = "deployment.zip"

# Names defined in infra/*.tf that the adapted functions refer to.
KMS_KEY_REF = "${local.api_kms_key_arn}"
ENVIRONMENT_REF = "${local.api_environment}"
FUNCTION_DEPENDS_ON = ["aws_iam_role_policy.api", "aws_cloudwatch_log_group.api"]


class ChaliceTerraformError(ValueError):
    """The generated configuration lacks something the deployment relies on."""


def adapt(document: dict[str, Any]) -> dict[str, Any]:
    """Return ``document`` (a parsed chalice.tf.json) adapted for infra/."""
    document = json.loads(json.dumps(document))  # deep copy
    document.pop("terraform", None)

    data = document.get("data", {})
    data.pop("null_data_source", None)
    if not data:
        document.pop("data", None)

    functions = document.get("resource", {}).get("aws_lambda_function", {})
    if not functions:
        raise ChaliceTerraformError("chalice.tf.json defines no aws_lambda_function")
    for name, function in functions.items():
        vpc = function.get("vpc_config") or {}
        if not vpc.get("subnet_ids") or not vpc.get("security_group_ids"):
            raise ChaliceTerraformError(
                f"Lambda function {name!r} has no VPC settings: set subnet_ids and "
                "security_group_ids for this stage in .chalice/config.json (see infra/api.tf)"
            )
        if not str(function.get("role", "")).startswith("${"):
            raise ChaliceTerraformError(
                f"Lambda function {name!r} does not use the role from infra/iam.tf: set "
                'manage_iam_role to false and iam_role_arn to "${local.api_role_arn}"'
            )
        function["environment"] = {"variables": ENVIRONMENT_REF}
        function["kms_key_arn"] = KMS_KEY_REF
        function["tracing_config"] = {"mode": "Active"}
        depends_on = list(function.get("depends_on", []))
        function["depends_on"] = depends_on + [
            d for d in FUNCTION_DEPENDS_ON if d not in depends_on
        ]
    return document


def merge_into(package_dir: Path, infra_dir: Path) -> Path:
    """Adapt ``package_dir``'s chalice.tf.json and copy it and the zip into ``infra_dir``."""
    source = package_dir / GENERATED_NAME
    document = json.loads(source.read_text())
    target = infra_dir / GENERATED_NAME
    target.write_text(json.dumps(adapt(document), indent=2, sort_keys=True) + "\n")
    shutil.copyfile(package_dir / PACKAGE_NAME, infra_dir / PACKAGE_NAME)
    return target


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        target = merge_into(Path(argv[1]), Path(argv[2]))
    except (OSError, ValueError) as exc:
        print(f"chalice_tf: {exc}", file=sys.stderr)
        return 1
    print(f"chalice_tf: wrote {target} and {target.parent / PACKAGE_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
