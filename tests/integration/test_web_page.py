"""The web page at ``GET /`` in a real headless Chromium: submit a file, see the result appear.

Chromium is Debian's package, driven by Playwright (never ``playwright install``,
which downloads browsers of its own). Without it these tests skip on a laptop
and fail under CI (``CI`` set), naming the install command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from chalicelib.backends import Backends
from chalicelib.core.settings import Settings
from scripts.devstack.stack import DevStack
from tests.support.imagegen import rotated_jpeg
from tests.support.stack_fixtures import TEST_LIMITS

INSTALL_COMMAND = "apt-get update && apt-get install -y --no-install-recommends chromium"

# Flags that let Chromium run as root in a container, without a GPU, and without
# reaching out to Google's services (there is no network beyond the local stack).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

# Long enough for a worker to process the job on a slow CI machine; never asserted on.
JOB_TIMEOUT_MS = 90_000


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        message = f"Chromium is not installed; install it with: {INSTALL_COMMAND}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # Playwright gives every context a fresh temporary profile (--user-data-dir) itself.
    with tempfile.TemporaryDirectory(prefix="chromium-") as home:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            env={**os.environ, "HOME": home},  # keeps crash dumps and caches out of ~
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(
    browser: Browser, api: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """The page at ``<api>/`` at a phone's width; on failure a screenshot and the console."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.set_default_timeout(20_000)
    # pytest does not hand a test's exception to its fixtures; a rise in the session's
    # failure count during the test says the same without a conftest hook.
    failures_before = request.session.testsfailed
    try:
        response = page.goto(f"{api}/")
        assert response is not None and response.status == 200
        assert response.headers["content-type"].startswith("text/html")
        yield page
    finally:
        if request.session.testsfailed > failures_before:
            save_evidence(page, tmp_path, console)
        context.close()


def save_evidence(page: Page, directory: Path, console: list[str]) -> None:
    """A full-page screenshot and the browser console, next to the failed test's files."""
    shot = directory / "failure.png"
    page.screenshot(path=str(shot), full_page=True)
    (directory / "console.log").write_text("\n".join(console))
    print(f"Screenshot of the failure: {shot}")


def noise_jpeg(path: Path, width: int, height: int) -> Path:
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(
        path, "JPEG", quality=95
    )
    return path


def submit(page: Page, image: Path, text: str) -> None:
    page.get_by_label(re.compile(r"^Image")).set_input_files(str(image))
    page.get_by_label(re.compile(r"^Text")).fill(text)
    page.get_by_role("button", name="Process").click()


def expect_completed(page: Page) -> None:
    """Wait for the job to end, then require "completed" and a rendered output image."""
    status = page.locator("#status-text")
    expect(status).to_have_text(re.compile(r"^(completed|failed)$"), timeout=JOB_TIMEOUT_MS)
    if status.inner_text() != "completed":
        error = page.locator("#error").inner_text()
        raise AssertionError(f"the job ended {status.inner_text()}: {error}")
    expect(page.locator("#outputs img").first).to_be_visible()
    # Rendered, not merely present: the presigned S3 link really served an image.
    page.wait_for_function(
        "() => { const img = document.querySelector('#outputs img');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )


def test_a_photo_and_a_text_show_outputs_and_analysis(page: Page, tmp_path: Path) -> None:
    photo = tmp_path / "lake.jpg"
    photo.write_bytes(rotated_jpeg(640, 480))

    submit(page, photo, "The lake was calm and beautiful this morning. We loved the light.")
    expect(page.locator("#preview")).to_be_visible()

    expect_completed(page)
    expect(page.locator("#progress")).to_have_attribute("value", "100")
    outputs = page.locator("#outputs figure")
    expect(outputs.filter(has_text="thumbnail")).to_have_count(1)
    download = outputs.filter(has_text="thumbnail").get_by_role("link", name="Download thumbnail")
    assert (download.get_attribute("href") or "").startswith("http")
    facts = page.locator("#image-facts")
    expect(facts).to_contain_text("480 × 640 px")  # upright after the EXIF rotation
    expect(facts).to_contain_text("JPEG")
    expect(page.locator("#palette li .swatch").first).to_be_visible()
    expect(page.locator("#exif")).to_contain_text("TestMake")
    expect(page.locator("#text-facts")).to_contain_text("Language")
    expect(page.locator("#text-facts")).to_contain_text("Sentiment")
    expect(page.locator("#keywords li").first).not_to_have_text("none")
    expect(page.locator("#error")).to_be_hidden()

    # Usable on a phone: nothing wider than the screen.
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0


def test_a_large_photo_is_uploaded_straight_to_storage(page: Page, tmp_path: Path) -> None:
    # Over the page's 4 MB limit (and under the stack's MAX_SOURCE_BYTES): /api/uploads,
    # a cross-origin POST to S3, then JSON naming the upload.
    photo = noise_jpeg(tmp_path / "large.jpg", 2000, 2000)
    assert 4_000_000 < photo.stat().st_size <= int(TEST_LIMITS["MAX_SOURCE_BYTES"])

    with page.expect_request(lambda r: r.url.endswith("/api/uploads")) as asked:
        submit(page, photo, "A large photo.")
    assert asked.value.method == "POST"

    expect_completed(page)


def test_an_error_shows_its_code_and_message(page: Page, tmp_path: Path) -> None:
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("this is text, not a picture")

    submit(page, not_an_image, "hello")

    error = page.get_by_role("alert")
    expect(error).to_be_visible()
    expect(page.locator("#error-code")).to_have_text("unsupported_image")
    expect(page.locator("#error-message")).not_to_be_empty()


def test_the_api_key_is_kept_and_sent(page: Page, stack: DevStack, tmp_path: Path) -> None:
    backends = Backends.from_settings(Settings.from_env(stack.env))
    _, key = backends.tenants.create(f"web-{os.urandom(3).hex()}", "Web page")
    photo = tmp_path / "small.jpg"
    photo.write_bytes(rotated_jpeg(200, 150))
    page.get_by_text("Advanced").click()
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Tab")  # the change event stores it

    with page.expect_request(lambda r: r.url.endswith("/api/process")) as sent:
        submit(page, photo, "")
    assert sent.value.headers.get("x-api-key") == key
    expect_completed(page)

    page.reload()
    expect(page.get_by_label("API key")).to_have_value(key)


def test_an_unknown_api_key_is_explained(page: Page, tmp_path: Path) -> None:
    photo = tmp_path / "small.jpg"
    photo.write_bytes(rotated_jpeg(200, 150))
    page.get_by_text("Advanced").click()
    page.get_by_label("API key").fill("mj_00000000_not-a-key")
    submit(page, photo, "")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("#error-code")).to_have_text("unauthorized")
    page.get_by_label("API key").fill("")
    page.get_by_label("API key").press("Tab")


def test_storage_out_of_reach_is_explained(page: Page, stack: DevStack, tmp_path: Path) -> None:
    # As with a bucket without a CORS rule for the page: the browser cannot POST to S3.
    page.route(f"{stack.env['AWS_ENDPOINT_URL']}/**", lambda route: route.abort())
    photo = noise_jpeg(tmp_path / "large.jpg", 2000, 2000)  # over 4 MB and over the API's limit

    submit(page, photo, "")

    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("#error-code")).to_have_text("upload_not_found")
    expect(page.locator("#error-hint")).to_contain_text("CORS")


def busy_patch_jpeg(path: Path, size: tuple[int, int], spot: tuple[int, int]) -> Path:
    """A calm grey picture with one busy, skin-toned patch: what `auto` should keep."""
    image = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(image)
    r = min(size) // 10
    x, y = spot
    draw.ellipse((x - r, y - r, x + r, y + r), fill=(224, 172, 140))
    for i in range(-r, r, max(2, r // 6)):
        draw.line((x + i, y - r, x + i, y + r), fill=(40, 30, 20), width=1)
    image.save(path, "JPEG", quality=92)
    return path


def record_sent_options(page: Page) -> None:
    """Keep the ``options`` field of the next form the page sends (Chromium does not
    hand a multipart body holding a file to Playwright's request events)."""
    page.evaluate(
        """() => {
        const send = XMLHttpRequest.prototype.send;
        XMLHttpRequest.prototype.send = function (body) {
          if (body instanceof FormData) window.sentOptions = body.get("options");
          return send.call(this, body);
        };
      }"""
    )


def sent_options(page: Page) -> dict[str, Any]:
    text = page.evaluate("() => window.sentOptions")
    assert isinstance(text, str), text
    return dict(json.loads(text))


def test_a_crop_gravity_is_written_into_the_options_and_each_crop_is_shown(
    page: Page, tmp_path: Path
) -> None:
    photo = busy_patch_jpeg(tmp_path / "patch.jpg", (900, 300), (800, 150))
    page.get_by_text("Advanced").click()
    page.get_by_label("Crop gravity").select_option("auto")
    expect(page.locator("#gravity-sent")).to_contain_text('"gravity":"auto"')
    expect(page.get_by_label("Focus x")).to_be_hidden()

    record_sent_options(page)
    submit(page, photo, "")
    expect_completed(page)
    renditions = {r["name"]: r for r in sent_options(page)["renditions"]}
    assert set(renditions) == {"preview", "square", "banner"}
    assert renditions["square"]["gravity"] == renditions["banner"]["gravity"] == "auto"
    assert "gravity" not in renditions["preview"]  # contain: nothing to place
    square = page.locator("#outputs figure").filter(has_text="square")
    expect(square).to_contain_text("512×512")
    # 300x300 of the 900x300 source, over on the right where the patch is.
    expect(square.locator(".crop")).to_have_text(re.compile(r"^crop (\d+),0 300×300$"))
    left = int(re.findall(r"crop (\d+),", square.locator(".crop").inner_text())[0])
    assert left <= 770 and left + 300 >= 830  # the patch: 770..830
    expect(
        page.locator("#outputs figure").filter(has_text="preview").locator(".crop")
    ).to_have_count(0)


def test_a_click_on_the_preview_sets_the_focus_point(page: Page, tmp_path: Path) -> None:
    photo = busy_patch_jpeg(tmp_path / "patch.jpg", (600, 400), (100, 100))
    page.get_by_label(re.compile(r"^Image")).set_input_files(str(photo))
    preview = page.locator("#preview")
    expect(preview).to_be_visible()
    page.get_by_text("Advanced").click()
    box = preview.bounding_box()
    assert box is not None
    preview.click(position={"x": box["width"] * 0.8, "y": box["height"] * 0.25})

    expect(page.get_by_label("Crop gravity")).to_have_value("focus")
    x = float(page.get_by_label("Focus x").input_value())
    y = float(page.get_by_label("Focus y").input_value())
    assert abs(x - 0.8) <= 0.02 and abs(y - 0.25) <= 0.02
    expect(page.locator("#focus-mark")).to_be_visible()

    # The options' own renditions are kept; the gravity goes on their cover ones.
    page.get_by_label(re.compile(r"^Options")).fill(
        '{"renditions": [{"name": "sq", "width": 64, "height": 64, "fit": "cover"},'
        ' {"name": "whole", "width": 64}]}'
    )
    record_sent_options(page)
    page.get_by_role("button", name="Process").click()
    expect_completed(page)
    sq, whole = sent_options(page)["renditions"]
    assert sq["gravity"] == "focus" and sq["focus"] == {"x": x, "y": y}
    assert "gravity" not in whole
    expect(page.locator("#outputs figure").filter(has_text="sq").locator(".crop")).to_have_text(
        "crop 200,0 400×400"
    )


def test_a_crop_gravity_without_a_cover_rendition_is_refused_on_the_page(
    page: Page, tmp_path: Path
) -> None:
    photo = busy_patch_jpeg(tmp_path / "patch.jpg", (300, 200), (50, 50))
    page.get_by_text("Advanced").click()
    page.get_by_label("Crop gravity").select_option("north")
    page.get_by_label(re.compile(r"^Options")).fill('{"renditions": [{"name": "a", "width": 64}]}')
    requests_sent: list[str] = []
    page.on("request", lambda r: requests_sent.append(r.url))

    submit(page, photo, "")

    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("#error-code")).to_have_text("invalid_options")
    expect(page.locator("#error-message")).to_contain_text("cover rendition")
    assert not [url for url in requests_sent if "/api/" in url]


def test_the_docs_render_from_the_vendored_redoc_and_are_linked_from_the_page(
    page: Page, browser: Browser, api: str, tmp_path: Path
) -> None:
    """``/docs``: ReDoc served by the API itself over the live OpenAPI document; nothing
    comes from elsewhere (no CDN: ReDoc's own logo link to cdn.redoc.ly is blocked by the
    page's Content-Security-Policy). A screenshot is kept beside the test's files."""
    link = page.get_by_role("link", name="API documentation")
    expect(link).to_have_attribute("href", "docs")
    favicon_requests: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    docs = context.new_page()
    elsewhere: list[str] = []
    docs.on("response", lambda r: None if r.url.startswith(api) else elsewhere.append(r.url))
    docs.on("request", lambda r: favicon_requests.append(r.url) if "favicon" in r.url else None)
    try:
        response = docs.goto(f"{api}/docs")
        assert response is not None and response.status == 200
        expect(docs.get_by_role("heading", name=re.compile("^media-jobs"))).to_be_visible(
            timeout=30_000
        )
        expect(docs.get_by_role("menuitem", name="jobs")).to_be_visible()
        expect(docs.get_by_role("heading", name="Submit an image and a text")).to_be_attached()
        shot = tmp_path / "docs.png"
        docs.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        print(f"Screenshot of /docs: {shot}")
    finally:
        context.close()
    assert [u for u in elsewhere if not u.startswith(("data:", "blob:"))] == []
    assert favicon_requests == []


def test_several_photos_go_as_one_batch_with_one_progress(page: Page, tmp_path: Path) -> None:
    photos = []
    for index in range(3):
        path = tmp_path / f"photo{index}.jpg"
        path.write_bytes(rotated_jpeg(320 + 40 * index, 240))
        photos.append(str(path))
    page.get_by_label(re.compile(r"^Image")).set_input_files(photos)
    expect(page.locator("#picked-info")).to_contain_text("3 files")
    page.get_by_label(re.compile(r"^Text")).fill("Summer")
    page.get_by_role("button", name="Process").click()

    expect(page.locator("#job-kind")).to_have_text("Batch")
    status = page.locator("#status-text")
    expect(status).to_have_text(re.compile(r"^(completed|failed|partial)$"), timeout=JOB_TIMEOUT_MS)
    assert status.inner_text() == "completed", page.locator("#error").inner_text()
    expect(page.locator("#progress")).to_have_attribute("value", "100")
    expect(page.locator("#status-message")).to_have_text("3 of 3 jobs ended")
    expect(page.locator("#batch-jobs li")).to_have_count(3)
    expect(page.locator("#batch-counts")).to_contain_text("3 completed")

    page.get_by_role("button", name="Delete this batch").click()
    expect(status).to_have_text("deleted")
    expect(page.locator("#batch")).to_be_hidden()


def test_an_unknown_preset_is_explained_on_the_page(page: Page, tmp_path: Path) -> None:
    photo = tmp_path / "lake.jpg"
    photo.write_bytes(rotated_jpeg(320, 240))
    page.locator("#advanced summary").click()
    page.locator("#preset").fill("no-such-preset")
    submit(page, photo, "hello")
    expect(page.locator("#error-code")).to_have_text("unknown_preset")
