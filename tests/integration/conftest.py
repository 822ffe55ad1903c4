"""Integration tests use the live-stack fixtures of ``tests.stack_fixtures`` (a plugin)."""
