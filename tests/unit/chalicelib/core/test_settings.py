from __future__ import annotations

import pytest

from chalicelib.core.settings import Settings, SettingsError
from chalicelib.webhooks.callbacks import CallbackPolicy


def test_defaults_are_safe_for_local_use() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.broker_url == settings.redis_url
    assert settings.endpoint_url is None
    assert (
        settings.visibility_timeout > settings.task_hard_time_limit > settings.task_soft_time_limit
    )


def test_seed_names_keep_working() -> None:
    settings = Settings.from_env(
        {
            "DEBUG": "true",
            "CELERY_BROKER_URL": "redis://broker:6379/1",
            "CELERY_RESULT_BACKEND": "redis://broker:6379/2",
            "WORKER_COUNT": "4",
            "UPLOAD_FOLDER": "incoming",
        }
    )
    assert settings.debug is True
    assert settings.broker_url == "redis://broker:6379/1"
    assert settings.celery_result_backend == "redis://broker:6379/2"
    assert settings.worker_count == 4
    assert settings.upload_folder == "incoming"


def test_new_names_are_read() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://r:1/0",
            "S3_BUCKET": "b",
            "AWS_ENDPOINT_URL": "http://s3:4566",
            "MAX_UPLOAD_BYTES": "1_000",
            "MAX_TEXT_CHARS": "5",
            "MAX_IMAGE_PIXELS": "10",
            "JOB_TTL_SECONDS": "60",
            "RESULT_URL_TTL": "30",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )
    assert (settings.redis_url, settings.s3_bucket, settings.endpoint_url) == (
        "redis://r:1/0",
        "b",
        "http://s3:4566",
    )
    assert (settings.max_upload_bytes, settings.max_text_chars, settings.max_image_pixels) == (
        1000,
        5,
        10,
    )
    assert (settings.job_ttl_seconds, settings.result_url_ttl) == (60, 30)
    assert settings.aws_region == "eu-west-1"


@pytest.mark.parametrize(
    "env",
    [
        {"WORKER_COUNT": "two"},
        {"WORKER_COUNT": "0"},
        {"DEBUG": "maybe"},
        {"UPLOAD_FOLDER": "../escape"},
        {"TASK_SOFT_TIME_LIMIT": "200", "TASK_HARD_TIME_LIMIT": "100"},
        {"VISIBILITY_TIMEOUT": "10"},
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert any(name in str(raised.value) for name in env)


def test_env_example_lists_every_setting() -> None:
    from dataclasses import fields
    from pathlib import Path

    example = Path(__file__).resolve().parents[4] / ".env.example"
    names = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    missing = {f.name.upper() for f in fields(Settings)} - names
    assert not missing
    Settings.from_env(
        {
            k: v
            for k, v in (
                line.split("=", 1)
                for line in example.read_text().splitlines()
                if "=" in line and not line.startswith("#")
            )
        }
    )


def test_a_deployed_worker_refuses_to_sign_without_a_secret() -> None:
    Settings.from_env({}).check_webhook_signing()  # local: an empty secret is allowed
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        Settings.from_env({"STAGE": "prod"}).check_webhook_signing()
    Settings.from_env({"STAGE": "prod", "WEBHOOK_SECRET": "x" * 32}).check_webhook_signing()


def test_webhook_secrets_sign_new_then_old() -> None:
    settings = Settings.from_env({"WEBHOOK_SECRET": "new", "WEBHOOK_SECRET_PREVIOUS": "old"})
    assert settings.webhook_secrets == ["new", "old"]


@pytest.mark.parametrize(
    ("raw", "ports"),
    [("80,443", frozenset({80, 443})), (" 8443 ", frozenset({8443})), ("any", None)],
)
def test_callback_ports(raw: str, ports: frozenset[int] | None) -> None:
    assert CallbackPolicy.from_settings(Settings.from_env({"WEBHOOK_PORTS": raw})).ports == ports


@pytest.mark.parametrize("raw", ["", "http", "0", "70000", "80;443"])
def test_bad_callback_ports_are_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="WEBHOOK_PORTS"):
        Settings.from_env({"WEBHOOK_PORTS": raw})


def test_webhooks_have_a_queue_of_their_own() -> None:
    assert Settings.from_env({"CELERY_QUEUE": "q1"}).webhooks_queue == "q1-webhooks"
    assert Settings.from_env({"WEBHOOK_QUEUE": "hooks"}).webhooks_queue == "hooks"
