"""The client package's Python API without a server: content types, where the API is, versions."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from chalicelib.core.version import VERSION
from chalicelib.media.formats import sniff
from media_jobs_client import Client, api
from tests.support import imagegen


@pytest.mark.parametrize(
    "data",
    [
        imagegen.jpeg(),
        imagegen.png_with_alpha(),
        imagegen.animated("GIF"),
        imagegen.webp(),
        imagegen.bmp(),
        imagegen.tiff(),
        imagegen.heic(),
        imagegen.avif(),
    ],
    ids=["jpeg", "png", "gif", "webp", "bmp", "tiff", "heic", "avif"],
)
def test_the_upload_type_is_the_one_the_service_sniffs(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "photo.bin"  # the name says nothing; the bytes do
    path.write_bytes(data)
    found = sniff(data)
    assert found is not None
    assert api.guess_content_type(path) == found.mime


def test_a_file_of_no_known_kind_is_named_by_its_extension(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert api.guess_content_type(path) == "text/plain"


def test_the_api_is_found_in_the_environment_then_in_make_devs_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert api.default_api_url({}) == "http://127.0.0.1:8000"
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "dev.env").write_text(
        "# written by make dev\nMEDIA_API_URL=http://127.0.0.1:8123\n"
    )
    assert api.default_api_url({}) == "http://127.0.0.1:8123"
    assert api.default_api_url({"MEDIA_API_URL": "http://api"}) == "http://api"


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIA_API_KEY", "mj_key")
    assert Client("http://api/").http.headers["X-Api-Key"] == "mj_key"
    assert Client("http://api/", api_key="other").http.headers["X-Api-Key"] == "other"
    assert Client("http://api/").base_url == "http://api"


def test_the_client_is_released_with_the_service() -> None:
    assert version("media-jobs-client") == VERSION
