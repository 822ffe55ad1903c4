"""`chalice package --pkg-format terraform` output: binary types, VPC settings, and the merge.

Chalice runs on a copy of the app with an empty requirements.txt, so the test
needs no network (the real `make package` downloads the Lambda's wheels).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import chalice_tf
from tests.infra.terraform import (
    INFRA,
    REPO,
    assert_no_warnings,
    blocks,
    copy_infra,
    load_tf,
    package_api,
    plugin_dir,
    terraform,
    terraform_init,
    two_label_blocks,
)

REFERENCE = re.compile(r"\b(local|var|data|aws_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)")


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not (REPO / "app.py").exists():
        pytest.skip("app.py is not written yet")
    yield package_api("dev", tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def generated(package_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((package_dir / "chalice.tf.json").read_text())
    return document


def test_multipart_is_a_binary_media_type(generated: dict[str, Any]) -> None:
    api = generated["resource"]["aws_api_gateway_rest_api"]["rest_api"]
    assert "multipart/form-data" in api["binary_media_types"]


def test_every_function_is_in_the_vpc(generated: dict[str, Any]) -> None:
    functions = generated["resource"]["aws_lambda_function"]
    assert "api_handler" in functions
    for name, function in functions.items():
        vpc = function.get("vpc_config", {})
        assert len(vpc.get("subnet_ids", [])) >= 2, f"{name}: subnet ids missing"
        assert vpc.get("security_group_ids"), f"{name}: security group ids missing"
        assert function["role"] == "${local.api_role_arn}", f"{name}: not the infra/ role"


def test_every_function_takes_its_environment_from_infra(generated: dict[str, Any]) -> None:
    for function in chalice_tf.adapt(generated)["resource"]["aws_lambda_function"].values():
        assert function["environment"] == {"variables": chalice_tf.ENVIRONMENT_REF}


def test_adapted_output_drops_chalice_version_pins(generated: dict[str, Any]) -> None:
    adapted = chalice_tf.adapt(generated)
    assert "terraform" not in adapted  # infra/versions.tf owns the pins
    assert "null_data_source" not in adapted.get("data", {})
    for function in adapted["resource"]["aws_lambda_function"].values():
        assert function["kms_key_arn"] == chalice_tf.KMS_KEY_REF
        assert function["tracing_config"] == {"mode": "Active"}
        assert chalice_tf.ROLE_POLICY in function["depends_on"]


def test_adapt_puts_the_stage_in_every_generated_name(generated: dict[str, Any]) -> None:
    """A rule named watch_queue-event is one rule for dev and prod: prod took dev's over."""
    resources = chalice_tf.adapt(generated)["resource"]
    names = [function["function_name"] for function in resources["aws_lambda_function"].values()]
    names += [rule["name"] for rule in resources["aws_cloudwatch_event_rule"].values()]
    names += [target["target_id"] for target in resources["aws_cloudwatch_event_target"].values()]
    names += [api["name"] for api in resources["aws_api_gateway_rest_api"].values()]
    names += [group["name"] for group in resources["aws_cloudwatch_log_group"].values()]
    assert names and all("media-jobs-dev" in name for name in names), names
    assert "media-jobs-dev-watch_queue-event" in names


def test_adapt_gives_every_function_an_encrypted_expiring_log_group(
    generated: dict[str, Any],
) -> None:
    resources = chalice_tf.adapt(generated)["resource"]
    groups = resources["aws_cloudwatch_log_group"]
    for key, function in resources["aws_lambda_function"].items():
        address = chalice_tf.log_group_address(key)
        group = groups[address.split(".", 1)[1]]
        assert group["name"] == f"/aws/lambda/{function['function_name']}"
        assert group["kms_key_id"] == chalice_tf.KMS_KEY_REF
        assert group["retention_in_days"] == chalice_tf.LOG_RETENTION_REF
        assert address in function["depends_on"]  # made before the function can log


def test_adapt_gives_the_api_a_stage_of_its_own(generated: dict[str, Any]) -> None:
    adapted = chalice_tf.adapt(generated)
    deployment = adapted["resource"]["aws_api_gateway_deployment"]["rest_api"]
    assert "stage_name" not in deployment  # deprecated in the AWS provider
    assert adapted["module"]["api_gateway"]["stage_name"] == "api"
    assert adapted["output"]["EndpointURL"]["value"] == "${module.api_gateway.invoke_url}"


def test_adapt_refuses_a_function_outside_the_vpc(generated: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(generated))
    del broken["resource"]["aws_lambda_function"]["api_handler"]["vpc_config"]
    with pytest.raises(chalice_tf.ChaliceTerraformError, match="VPC"):
        chalice_tf.adapt(broken)


def _defined_names(adapted: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for path in INFRA.glob("*.tf"):
        parsed = load_tf(path)
        names |= two_label_blocks(parsed, "resource")
        names |= {f"data.{name}" for name in two_label_blocks(parsed, "data")}
        names |= {f"var.{name}" for name in blocks(parsed, "variable")}
        for entry in parsed.get("locals", []):
            names |= {f"local.{key}" for key in entry if not key.startswith("__")}
    for rtype, named in adapted.get("resource", {}).items():
        names |= {f"{rtype}.{name}" for name in named}
    for rtype, named in adapted.get("data", {}).items():
        names |= {f"data.{rtype}.{name}" for name in named}
    names |= {f"local.{key}" for key in adapted.get("locals", {})}
    return names


def test_every_reference_resolves_in_infra(generated: dict[str, Any]) -> None:
    adapted = chalice_tf.adapt(generated)
    defined = _defined_names(adapted)
    # moved blocks name old addresses, on purpose no longer defined.
    text = json.dumps({key: value for key, value in adapted.items() if key != "moved"})
    missing = set()
    for kind, name in REFERENCE.findall(text):
        if kind == "data":
            # data.<type>.<name>: take the next part too.
            match = re.search(rf"\bdata\.{re.escape(name)}\.([A-Za-z_][\w-]*)", text)
            address = f"data.{name}.{match.group(1)}" if match else f"data.{name}"
        else:
            address = f"{kind}.{name}"
        if address not in defined:
            missing.add(address)
    assert not missing, f"chalice.tf.json refers to names infra/ does not define: {sorted(missing)}"


def test_the_api_environment_holds_what_the_api_needs() -> None:
    infra_text = (INFRA / "main.tf").read_text() + (INFRA / "api.tf").read_text()
    assigned = set(re.findall(r"^\s+([A-Z][A-Z0-9_]*)\s*=", infra_text, re.MULTILINE))
    needed = {"REDIS_URL", "S3_BUCKET", "UPLOAD_FOLDER", "RESULTS_FOLDER", "CELERY_QUEUE", "STAGE"}
    assert needed <= assigned, f"not in local.api_environment: {sorted(needed - assigned)}"


def test_terraform_validate_with_the_api_merged(package_dir: Path, tmp_path: Path) -> None:
    """The whole configuration, chalice.tf.json included, against the real provider schema."""
    if shutil.which("terraform") is None or plugin_dir() is None:
        pytest.skip(
            "needs terraform and a local AWS provider mirror (TF_PLUGIN_DIR or /opt/tf-plugins)"
        )
    work = copy_infra(tmp_path / "infra")
    chalice_tf.merge_into(package_dir, work)
    terraform_init(work)
    # Deprecated arguments (the deployment's stage_name) are warnings, not errors.
    assert_no_warnings(terraform(work, "validate", "-no-color"))
