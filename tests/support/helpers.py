"""Assertions and recorders the tests share (images come from ``tests.support.imagegen``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import requests


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is the API's JSON error shape with ``status`` and ``code``; its error."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return dict(body["error"])


class StageRecorder:
    """A stage() that records the names it was given."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, name: str) -> AbstractContextManager[None]:
        return self._stage(name)

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        self.names.append(name)
        yield
