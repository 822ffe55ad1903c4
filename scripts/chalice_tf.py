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
  permissions are checked when the function is created) and its log group;
- adds one log group per function (``/aws/lambda/<function name>``, encrypted
  with the service's key, expiring after ``var.log_retention_days``): made
  before the function, or Lambda makes it on the first log line, unencrypted
  and kept for ever;
- puts ``<app>-<stage>`` in every name Chalice leaves without the stage (the
  REST API, the schedule rules and their targets), so dev and prod can share
  an account: a rule named ``watch_queue-event`` would be one rule for both;
- replaces the deployment's deprecated ``stage_name`` with a stage of its own,
  made by ``infra/modules/api_gateway`` with the throttling and the service's
  JSON error answers, and redeploys on every change of the API document.

infra/ itself never refers to what this file defines, so it validates and plans
without it (before ``make package``).

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
LOG_RETENTION_REF = "${var.log_retention_days}"
ROLE_POLICY = "aws_iam_role_policy.api"
# The hand-written half of the generated API (stage, throttling, error answers).
GATEWAY_MODULE = {
    "source": "./modules/api_gateway",
    "name": "${local.name}",
    "rest_api_id": "${aws_api_gateway_rest_api.rest_api.id}",
    "deployment_id": "${aws_api_gateway_deployment.rest_api.id}",
    "throttle_rate_limit": "${var.api_throttle_rate_limit}",
    "throttle_burst_limit": "${var.api_throttle_burst_limit}",
    "log_retention_days": LOG_RETENTION_REF,
    "kms_key_arn": KMS_KEY_REF,
}


class ChaliceTerraformError(ValueError):
    """The generated configuration lacks something the deployment relies on."""


# Where stacks deployed before this layout kept what now lives elsewhere
# (a moved block whose source is not in the state does nothing).
MOVED = [
    {"from": "aws_cloudwatch_log_group.api", "to": "aws_cloudwatch_log_group.lambda_api_handler"},
    {
        "from": "aws_api_gateway_method_settings.throttle",
        "to": "module.api_gateway.aws_api_gateway_method_settings.throttle",
    },
    {
        "from": "aws_api_gateway_gateway_response.json",
        "to": "module.api_gateway.aws_api_gateway_gateway_response.json",
    },
]


def log_group_address(function_key: str) -> str:
    """The address of the log group made for the function ``function_key``."""
    return f"aws_cloudwatch_log_group.lambda_{function_key}"


def _prefix(stage_name: str, name: str) -> str:
    return name if name.startswith(f"{stage_name}-") else f"{stage_name}-{name}"


def name_with_stage(document: dict[str, Any], prefix: str) -> None:
    """Put ``prefix`` (``<app>-<stage>``) in front of the names Chalice leaves bare."""
    resources = document.get("resource", {})
    for api in resources.get("aws_api_gateway_rest_api", {}).values():
        api["name"] = _prefix(prefix, api["name"])
    for rule in resources.get("aws_cloudwatch_event_rule", {}).values():
        rule["name"] = _prefix(prefix, rule["name"])
    for target in resources.get("aws_cloudwatch_event_target", {}).values():
        target["target_id"] = _prefix(prefix, target["target_id"])


def add_log_groups(document: dict[str, Any]) -> None:
    """One managed, encrypted, expiring log group per function, made before it."""
    resources = document.setdefault("resource", {})
    groups = resources.setdefault("aws_cloudwatch_log_group", {})
    for key, function in resources["aws_lambda_function"].items():
        address = log_group_address(key)
        groups[address.split(".", 1)[1]] = {
            "name": f"/aws/lambda/{function['function_name']}",
            "retention_in_days": LOG_RETENTION_REF,
            "kms_key_id": KMS_KEY_REF,
        }
        depends_on = list(function.get("depends_on", []))
        function["depends_on"] = depends_on + [
            d for d in (ROLE_POLICY, address) if d not in depends_on
        ]


def stage_of_its_own(document: dict[str, Any]) -> None:
    """The deployment without its deprecated stage; the stage from modules/api_gateway."""
    resources = document.get("resource", {})
    deployment = resources.get("aws_api_gateway_deployment", {}).get("rest_api")
    if deployment is None:
        return
    stage_name = deployment.pop("stage_name")
    deployment.pop("stage_description", None)
    # A new deployment whenever the API document changes (stage_description did it).
    deployment["triggers"] = {"redeployment": "${md5(local.chalice_api_swagger)}"}
    document.setdefault("module", {})["api_gateway"] = {**GATEWAY_MODULE, "stage_name": stage_name}
    document["moved"] = MOVED
    outputs = document.get("output", {})
    if "EndpointURL" in outputs:
        outputs["EndpointURL"]["value"] = "${module.api_gateway.invoke_url}"


def adapt(document: dict[str, Any]) -> dict[str, Any]:
    """Return ``document`` (a parsed chalice.tf.json) adapted for infra/."""
    document = json.loads(json.dumps(document))  # deep copy
    document.pop("terraform", None)

    data = document.get("data", {})
    label = data.pop("null_data_source", {}).get("chalice", {}).get("inputs", {})
    if not data:
        document.pop("data", None)

    functions = document.get("resource", {}).get("aws_lambda_function", {})
    if not functions:
        raise ChaliceTerraformError("chalice.tf.json defines no aws_lambda_function")
    if not label.get("app") or not label.get("stage"):
        raise ChaliceTerraformError("chalice.tf.json does not name its app and stage")
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
    add_log_groups(document)
    name_with_stage(document, f"{label['app']}-{label['stage']}")
    stage_of_its_own(document)
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
