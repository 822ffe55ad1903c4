"""Integration tests use the live-stack fixtures of ``tests.support.stack_fixtures`` (a plugin)."""
