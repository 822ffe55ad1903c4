"""The media-jobs command without a server: the job id at once, Ctrl-C's resume hint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from media_jobs_client import cli
from media_jobs_client.api import Client

JOB_ID = "5f0c3f5e2b7a4c0e9f1d2a3b4c5d6e7f"


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff" + b"\0" * 100)
    return path


def interrupted_wait(*_args: Any, **_kwargs: Any) -> Any:
    raise KeyboardInterrupt


def test_the_job_id_is_shown_once_accepted_and_ctrl_c_says_how_to_resume(
    photo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted = {"job_id": JOB_ID, "status": "pending", "status_url": f"/api/status/{JOB_ID}"}
    monkeypatch.setattr(Client, "submit", lambda *_a, **_k: accepted)
    monkeypatch.setattr(Client, "wait", interrupted_wait)
    code = cli.main(["--api", "http://api", "submit", str(photo), "Hi", "--wait"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERRUPTED
    assert f"Job {JOB_ID} accepted." in err
    assert f"Interrupted; job {JOB_ID} goes on. Follow it again with: media-jobs wait {JOB_ID}" in (
        err
    )
    assert err.index("accepted") < err.index("Interrupted")


def test_wait_interrupted_says_the_same(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(Client, "wait", interrupted_wait)
    assert cli.main(["wait", JOB_ID, "--api", "http://api"]) == cli.EXIT_INTERRUPTED
    assert f"media-jobs wait {JOB_ID}" in capsys.readouterr().err


def test_a_reader_that_stops_early_ends_the_output_quietly(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from media_jobs_client import cli\n"
        "from media_jobs_client.api import Client\n"
        "jobs = [{'job_id': str(i)} for i in range(10**5)]\n"
        "Client.list = lambda *a, **k: {'jobs': jobs, 'next_cursor': None}\n"
        "sys.exit(cli.main(['list', '--api', 'http://api']))\n"
    )
    (tmp_path / "run.py").write_text(script)
    done = subprocess.run(
        ["bash", "-c", f"{sys.executable} run.py | head -n 1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == "{\n" and done.stderr == ""
