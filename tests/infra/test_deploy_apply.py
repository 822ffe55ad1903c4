"""The deployment applied and destroyed for real, against moto's server: dev and prod in one account.

A scratch copy of infra/ per stage, with the API packaged for that stage
(``chalice package``, merged by scripts/chalice_tf.py) and one provider override
file pointing every AWS endpoint at moto's server (tests/infra/moto_gaps.py, with
the gaps moto has for this configuration filled). Then, as a team's first weeks
would: apply dev, apply prod in the same account, destroy dev (prod keeps its
schedule), deploy dev again at once, destroy both. After each apply the deployed
pieces are read back through the AWS APIs and checked against what the code
reads (``Settings``). What only a real account can show is in docs/DEPLOY.md.

Not asserted: an empty re-plan (moto drifts on attributes it does not keep) and
the bucket policy's conditions (moto ignores them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from chalicelib.core.settings import Settings
from scripts import chalice_tf
from tests.infra.terraform import (
    REPO,
    copy_infra,
    package_api,
    plugin_dir,
    terraform,
    terraform_init,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("terraform") is None or plugin_dir() is None,
        reason="needs terraform and a local AWS provider mirror (TF_PLUGIN_DIR or /opt/tf-plugins)",
    ),
]

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
# Every AWS service infra/ and chalice.tf.json use, by the provider's endpoint names.
ENDPOINT_SERVICES = (
    "apigateway", "appautoscaling", "cloudwatch", "ec2", "ecr", "ecs", "elasticache", "events",
    "iam", "kms", "lambda", "logs", "s3", "secretsmanager", "sns", "ssm", "sts", "wafv2",
)  # fmt: skip
# Read by the worker image's command line (worker/Dockerfile), not by Settings.
IMAGE_VARIABLES = {"WORKER_QUEUES"}
# Attributes that name something in the account, and resources exempt from the
# stage rule because their name lives inside a resource that carries it.
NAME_ATTRIBUTES = (
    "name", "function_name", "bucket", "alarm_name", "replication_group_id", "target_id",
)  # fmt: skip
NAMED_INSIDE_ANOTHER = {
    "aws_iam_role_policy",  # a role's inline policy
    "aws_api_gateway_stage",  # a stage of the stage's own REST API
    "aws_api_gateway_method_settings",
    "aws_api_gateway_gateway_response",
    "aws_default_security_group",
}


def provider_override(endpoint: str) -> str:
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in ENDPOINT_SERVICES)
    return f"""# Written by tests/infra/test_deploy_apply.py: every endpoint at moto's server.
provider "aws" {{
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server with the gaps filled, in a process of its own, on a free loopback port."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.infra.moto_gaps", "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        assert port.isdigit(), f"moto_gaps did not start (exit {server.poll()})"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@dataclass
class Stage:
    """One stage's scratch configuration and state, applied to moto."""

    name: str
    workdir: Path
    endpoint: str
    timings: dict[str, list[float]] = field(default_factory=dict)

    def _timed(self, label: str, *args: str) -> None:
        started = time.monotonic()
        terraform(self.workdir, *args, "-auto-approve", "-no-color", "-parallelism=20",
                  "-var", f"stage={self.name}", "-var", "worker_image_tag=apply-test",
                  timeout=600)  # fmt: skip
        self.timings.setdefault(label, []).append(time.monotonic() - started)

    def apply(self) -> None:
        self._timed("apply", "apply")

    def destroy(self) -> None:
        self._timed("destroy", "destroy")

    def outputs(self) -> dict[str, Any]:
        run = terraform(self.workdir, "output", "-json")
        return {key: value["value"] for key, value in json.loads(run.stdout).items()}

    def resources(self) -> list[dict[str, Any]]:
        state = json.loads(terraform(self.workdir, "show", "-json").stdout)
        module = state.get("values", {}).get("root_module", {})
        found = list(module.get("resources", []))
        for child in module.get("child_modules", []):
            found += child.get("resources", [])
        return found


@pytest.fixture(scope="module")
def stages(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stage]:
    made = {}
    for name in ("dev", "prod"):
        root = tmp_path_factory.mktemp(f"deploy-{name}")
        workdir = copy_infra(root / "infra")
        chalice_tf.merge_into(package_api(name, root / "project"), workdir)
        (workdir / "moto_override.tf").write_text(provider_override(moto_endpoint))
        terraform_init(workdir)
        made[name] = Stage(name, workdir, moto_endpoint)
    return made


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, **CREDENTIALS)


################################################################################
# What a deployed stage must look like
################################################################################


def check_names_carry_the_stage(stage: Stage) -> None:
    token = stage.name
    bare = []
    for resource in stage.resources():
        if resource["mode"] != "managed" or resource["type"] in NAMED_INSIDE_ANOTHER:
            continue
        names = NAME_ATTRIBUTES + (
            ("family",) if resource["type"] == "aws_ecs_task_definition" else ()
        )
        for attribute in names:
            value = resource["values"].get(attribute)
            if isinstance(value, str) and value and token not in value.replace("/", "-").split("-"):
                bare.append(f"{resource['address']}.{attribute} = {value!r}")
    assert not bare, f"names without the stage {token!r}:\n" + "\n".join(bare)


def check_bucket(stage: Stage, outputs: dict[str, Any]) -> str:
    s3 = client(stage.endpoint, "s3")
    bucket = outputs["bucket_name"]
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    default = rule["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    assert default["KMSMasterKeyID"] == outputs["kms_key_arn"]
    assert rule["BucketKeyEnabled"] is True
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()), block
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled"
    prefixes = {
        r["Filter"].get("Prefix", "")
        for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    }
    defaults = Settings()
    assert {f"{defaults.upload_folder}/", f"{defaults.results_folder}/"} <= prefixes, prefixes
    with pytest.raises(ClientError, match="NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=bucket)  # no browser origin unless the stage names one
    return str(bucket)


def check_redis_url(stage: Stage, outputs: dict[str, Any]) -> str:
    ssm = client(stage.endpoint, "ssm")
    url = ssm.get_parameter(Name=outputs["redis_url_parameter"], WithDecryption=True)
    url = url["Parameter"]["Value"]
    token = client(stage.endpoint, "secretsmanager").get_secret_value(
        SecretId=f"media-jobs/{stage.name}/redis-auth-token"
    )["SecretString"]
    group = client(stage.endpoint, "elasticache").describe_replication_groups(
        ReplicationGroupId=f"media-jobs-{stage.name}"
    )["ReplicationGroups"][0]
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]
    assert primary["Address"] == outputs["redis_primary_endpoint"]
    parts = urlsplit(url)
    assert parts.scheme == "rediss", "TLS: ElastiCache has transit encryption on"
    assert parts.password == token and len(token) >= 16 and token.isalnum()
    assert (parts.hostname, parts.port, parts.path) == (primary["Address"], 6379, "/0")
    assert parse_qs(parts.query) == {"ssl_cert_reqs": ["required"]}
    assert group["TransitEncryptionEnabled"] and group["AuthTokenEnabled"]
    assert len(group["MemberClusters"]) == 2  # a primary and a replica
    return str(url)


def check_settings(where: str, env: dict[str, str], stage: Stage, bucket: str) -> Settings:
    fields = {name.upper() for name in Settings.__dataclass_fields__}
    unread = set(env) - fields - IMAGE_VARIABLES
    assert not unread, f"{where}: variables nothing reads: {sorted(unread)}"
    settings = Settings.from_env(env)
    assert settings.stage == stage.name, where
    assert settings.s3_bucket == bucket, where
    assert settings.powertools_service_name == f"media-jobs-{stage.name}", where
    return settings


def check_functions(stage: Stage, bucket: str, redis_url: str) -> None:
    lambdas = client(stage.endpoint, "lambda")
    logs = client(stage.endpoint, "logs")
    names = [
        f["FunctionName"]
        for f in lambdas.list_functions()["Functions"]
        if f["FunctionName"].startswith(f"media-jobs-{stage.name}")
    ]
    assert sorted(names) == [f"media-jobs-{stage.name}", f"media-jobs-{stage.name}-watch_queue"]
    for name in names:
        config = lambdas.get_function_configuration(FunctionName=name)
        env = config["Environment"]["Variables"]
        assert env["REDIS_URL"] == redis_url, name
        check_settings(name, env, stage, bucket)
        assert config["KMSKeyArn"] and config["TracingConfig"]["Mode"] == "Active"
        assert len(config["VpcConfig"]["SubnetIds"]) == 2
        groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == f"/aws/lambda/{name}"), None)
        assert group is not None, f"{name}: no managed log group"
        assert group.get("kmsKeyId") and group.get("retentionInDays"), group

    events = client(stage.endpoint, "events")
    rule = f"media-jobs-{stage.name}-watch_queue-event"
    assert events.describe_rule(Name=rule)["ScheduleExpression"] == "rate(1 minute)"
    targets = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert [t["Arn"].rsplit(":", 1)[-1] for t in targets] == [
        f"media-jobs-{stage.name}-watch_queue"
    ]


def check_iam(stage: Stage) -> None:
    iam = client(stage.endpoint, "iam")
    document = iam.get_role_policy(RoleName=f"media-jobs-{stage.name}-api",
                                   PolicyName="least-privilege")["PolicyDocument"]  # fmt: skip
    if isinstance(document, str):
        document = json.loads(document)
    for statement in document["Statement"]:
        for test, pairs in statement.get("Condition", {}).items():
            for values in pairs.values():
                values = values if isinstance(values, list) else [values]
                if any("*" in value for value in values):
                    assert "Like" in test, f"{statement.get('Sid')}: {test} with a wildcard"


def check_task_definitions(stage: Stage, bucket: str) -> None:
    ecs = client(stage.endpoint, "ecs")
    ssm = client(stage.endpoint, "ssm")
    shape = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape
    register_keys = set(shape.members)
    queues = {}
    for family in ("worker", "worker-light", "webhooks"):
        definition = ecs.describe_task_definition(
            taskDefinition=f"media-jobs-{stage.name}-{family}"
        )["taskDefinition"]
        # What was registered, checked against the ECS API's own model.
        request = {
            k: v for k, v in definition.items() if k in register_keys and v not in (None, [])
        }
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), f"{family}: {report.generate_report()}"
        assert definition["requiresCompatibilities"] == ["FARGATE"]
        (container,) = definition["containerDefinitions"]
        assert container["readonlyRootFilesystem"] and container["user"] == "10001:10001"
        assert container["stopTimeout"] <= 120  # Fargate's maximum
        env = {item["name"]: item["value"] for item in container["environment"]}
        for secret in container["secrets"]:
            parameter = secret["valueFrom"].split(":parameter", 1)[1]
            env[secret["name"]] = ssm.get_parameter(Name=parameter, WithDecryption=True)[
                "Parameter"
            ]["Value"]
        settings = check_settings(family, env, stage, bucket)
        settings.check_webhook_signing()  # a deployed worker refuses to start without it
        command = container.get("command") or []
        queues[family] = command[command.index("-Q") + 1] if "-Q" in command else None
        if family == "webhooks":
            assert queues[family] == settings.webhooks_queue


def check_deployed(stage: Stage) -> None:
    outputs = stage.outputs()
    check_names_carry_the_stage(stage)
    bucket = check_bucket(stage, outputs)
    redis_url = check_redis_url(stage, outputs)
    check_functions(stage, bucket, redis_url)
    check_iam(stage)
    check_task_definitions(stage, bucket)


################################################################################
# The scenario
################################################################################


@pytest.mark.timeout(1500)
def test_dev_and_prod_apply_destroy_and_redeploy_in_one_account(
    stages: dict[str, Stage], capsys: pytest.CaptureFixture[str]
) -> None:
    dev, prod = stages["dev"], stages["prod"]
    events = client(dev.endpoint, "events")

    dev.apply()
    check_deployed(dev)
    prod.apply()
    check_deployed(prod)
    check_deployed(dev)  # prod took nothing over

    dev.destroy()
    prod_rule = "media-jobs-prod-watch_queue-event"
    assert events.describe_rule(Name=prod_rule)["State"] == "ENABLED"
    assert events.list_targets_by_rule(Rule=prod_rule)["Targets"], "prod lost its schedule"
    check_deployed(prod)

    dev.apply()  # at once: nothing of the destroyed dev (the Redis secret's name) holds it up
    check_deployed(dev)

    # Both at once: they share nothing, so neither may wait for the other.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(Stage.destroy, (dev, prod)))
    secrets = client(dev.endpoint, "secretsmanager").list_secrets()["SecretList"]
    assert not secrets, [s["Name"] for s in secrets]
    assert not client(dev.endpoint, "s3").list_buckets()["Buckets"]
    assert not events.list_rules()["Rules"]

    with capsys.disabled():
        for stage in (dev, prod):
            figures = ", ".join(
                f"{label} " + " / ".join(f"{s:.0f} s" for s in seconds)
                for label, seconds in stage.timings.items()
            )
            print(f"\n[deploy-apply] {stage.name}: {figures}", end="")
        print()
