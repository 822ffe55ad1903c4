"""Integration tests use the live-stack fixtures of ``tests.stack_fixtures``."""

from tests.stack_fixtures import ApiClient, read_logs, stack_env

__all__ = ["ApiClient", "read_logs", "stack_env"]
