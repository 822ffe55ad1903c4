"""The dev server's access log: the client's request line is escaped, never written raw."""

from __future__ import annotations

import pytest

from scripts.devserver.server import GuardedRequestHandler


def test_control_characters_of_a_request_line_are_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = object.__new__(GuardedRequestHandler)
    handler.client_address = ("127.0.0.1", 5000)
    handler.log_message('"%s" %s %s', "GET /\x1b[2J\r\nforged 200 -\x85\x7f HTTP/1.1", "400", "-")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "\x1b" not in err and "\r" not in err and "\x85" not in err and "\x7f" not in err
    assert "\\x1b[2J\\x0d\\x0aforged 200 -\\x85\\x7f" in err
