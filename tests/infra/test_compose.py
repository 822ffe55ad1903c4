"""docker-compose.localstack.yml: valid Compose, health checks, start order, scalable workers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from scripts.standin_images import official_images, standins
from tests.infra.terraform import REPO

COMPOSE_FILE = REPO / "docker-compose.localstack.yml"
# shared/ sits beside the repository (here and in CI); a vendored copy is the fallback.
SCHEMA_PATHS = [
    REPO.parent / "shared" / "schemas" / "compose-spec.json",
    Path(__file__).with_name("compose-spec.json"),
]
ONE_SHOT = {"create-bucket"}
# `${REDIS_IMAGE:-redis:7.2.5-alpine}`: an image setting with the official default.
IMAGE_SETTING = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+_IMAGE):-(?P<default>[^}]+)\}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_validates_against_the_compose_spec(compose: dict[str, Any]) -> None:
    schema_path = next(path for path in SCHEMA_PATHS if path.exists())
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_has_the_whole_system(services: dict[str, dict[str, Any]]) -> None:
    assert {"localstack", "redis", "create-bucket", "api", "worker", "flower"} <= set(services)


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_app_services_wait_for_redis_and_the_bucket(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    depends = services[name]["depends_on"]
    assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["create-bucket"]["condition"] == "service_completed_successfully"


def test_bucket_is_created_once_localstack_is_healthy(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["create-bucket"]["depends_on"]["localstack"]["condition"] == "service_healthy"


def test_every_dependency_has_a_condition(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for target, spec in depends.items():
            assert spec.get("condition") in {
                "service_healthy",
                "service_completed_successfully",
            }, f"{name} -> {target}"


def test_worker_scales(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker, "container_name breaks --scale worker=N"
    assert not worker.get("ports"), "published ports break --scale worker=N"
    assert worker["build"]["dockerfile"] == "worker/Dockerfile"


def test_api_runs_the_guarded_server_with_the_schedules(
    services: dict[str, dict[str, Any]],
) -> None:
    """Not bare ``chalice local`` (no guards, no reconciler): ``scripts.devserver``."""
    api = services["api"]
    assert (REPO / api["build"]["dockerfile"]).exists()
    assert api["command"][:3] == ["python", "-m", "scripts.devserver"]
    assert "--stage=local" in api["command"] and "--run-schedules" in api["command"]
    dockerfile = (REPO / api["build"]["dockerfile"]).read_text()
    assert "COPY --chown=root:root scripts/devserver/ scripts/devserver/" in dockerfile


def test_localstack_serves_s3_only_and_redis_keeps_an_aof(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["localstack"]["environment"]["SERVICES"] == "s3"
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


def test_third_party_images_are_settings_with_official_defaults(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if "build" not in service:
            assert IMAGE_SETTING.match(service["image"]), f"{name}: {service['image']}"
        else:
            # Unset, the Dockerfile's pinned default applies; a test can pass a stand-in.
            assert "PYTHON_IMAGE" in service["build"]["args"], name


def test_every_image_setting_has_a_stand_in() -> None:
    official = official_images()
    assert {s.setting for s in standins()} == set(official)
    for standin in standins():
        assert standin.tag.startswith("media-jobs-standin/"), standin.tag
        assert standin.tag.split(":")[0] != official[standin.setting].split(":")[0]


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        if "build" in service or image is None:
            continue
        setting = IMAGE_SETTING.match(image)
        image = setting.group("default") if setting else image
        tag = image.rsplit(":", 1)[-1] if ":" in image else ""
        assert "@sha256:" in image or (tag and tag != "latest" and any(c.isdigit() for c in tag)), (
            f"{name}: image {image!r} is not pinned"
        )


def test_env_file_exists(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for env_file in service.get("env_file", []):
            if isinstance(env_file, dict):
                if env_file.get("required", True) is False:
                    continue  # an optional .env over .env.example
                env_file = env_file["path"]
            assert (REPO / env_file).exists(), f"{name}: {env_file} missing"
