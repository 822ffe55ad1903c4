"""JobService on the fast tier's backends: what a submit stores, queues and undoes; reads."""

from __future__ import annotations

import ipaddress
import json

import pytest

from chalicelib.api.service import JobService
from chalicelib.core.errors import (
    IdempotencyConflict,
    ImageTooLarge,
    InvalidCallback,
    InvalidRequest,
    JobNotFound,
    ServiceUnavailable,
    UnsupportedImage,
    UploadAlreadyUsed,
    UploadNotFound,
    UploadTooLarge,
)
from chalicelib.jobs import model as jobs
from chalicelib.tenancy.tenants import Tenant
from tests.support import imagegen
from tests.support.fakes import FakeWorld, fake_world

ALPHA = Tenant("alpha", "Alpha")


@pytest.fixture()
def world() -> FakeWorld:
    return fake_world()


@pytest.fixture()
def service(world: FakeWorld) -> JobService:
    return JobService.from_backends(world.backends)


def submit(
    service: JobService, key: str | None = None, text: str = "Hi", tenant: Tenant = ALPHA
) -> str:
    submission = service.validate(imagegen.jpeg(64, 48), text, None)
    return service.submit(submission, tenant, idempotency_key=key).job_id


def test_a_submit_stores_the_image_records_the_job_and_queues_it(
    service: JobService, world: FakeWorld
) -> None:
    job_id = submit(service)
    job = world.store.get(job_id)
    assert job is not None and job.status == jobs.PENDING and job.text == "Hi"
    assert world.objects.objects[job.source_key] == (imagegen.jpeg(64, 48), "image/jpeg")
    assert world.queue.enqueued == [job_id]
    assert [r["name"] for r in job.options["renditions"]] == ["thumbnail", "preview"]


def test_each_job_is_queued_where_its_cost_says_and_remembers_it(
    service: JobService, world: FakeWorld
) -> None:
    heavy = {"renditions": [{"name": "a", "width": 2000, "format": "avif"}]}
    image = imagegen.jpeg(2400, 1800)
    light_id, heavy_id = (
        service.submit(service.validate(image, "x", options), ALPHA).job_id
        for options in (None, heavy)
    )
    settings = world.backends.settings
    assert world.queue.queues == {light_id: settings.celery_queue, heavy_id: settings.heavy_queue}
    stored = {job_id: world.store.get(job_id) for job_id in (light_id, heavy_id)}
    assert {job_id: job.queue for job_id, job in stored.items() if job} == world.queue.queues


def test_a_queue_that_is_down_leaves_no_record_and_no_image(
    service: JobService, world: FakeWorld
) -> None:
    world.queue.down = True
    with pytest.raises(ServiceUnavailable):
        submit(service)
    assert world.store.records == {}
    assert world.objects.objects == {}


def test_a_store_that_is_down_leaves_no_image(service: JobService, world: FakeWorld) -> None:
    world.store.down = True
    with pytest.raises(ServiceUnavailable):
        submit(service)
    assert world.objects.objects == {}
    assert world.queue.enqueued == []


def test_a_header_over_the_image_limits_is_refused_before_anything_is_stored(
    service: JobService, world: FakeWorld
) -> None:
    submission = service.validate(imagegen.png_header_bomb(), "Hi", None)
    with pytest.raises(ImageTooLarge, match="each side must be at most"):
        service.submit(submission, ALPHA)
    assert world.queue.queues == {} and world.objects.objects == {}


def test_an_idempotency_key_gives_the_same_job_and_refuses_another_request(
    service: JobService, world: FakeWorld
) -> None:
    first = submit(service, key="order-1")
    assert submit(service, key="order-1") == first
    assert world.queue.enqueued == [first]
    with pytest.raises(IdempotencyConflict):
        submit(service, key="order-1", text="another text")


def test_a_failed_submit_releases_its_idempotency_key(
    service: JobService, world: FakeWorld
) -> None:
    world.queue.down = True
    with pytest.raises(ServiceUnavailable):
        submit(service, key="retry-me")
    world.queue.down = False
    job_id = submit(service, key="retry-me")
    assert world.queue.enqueued == [job_id]


def test_an_upload_starts_one_job_only(service: JobService, world: FakeWorld) -> None:
    upload = service.create_upload(ALPHA, "big.jpg", "image/jpeg", len(imagegen.jpeg()))
    with pytest.raises(UploadNotFound):
        service.validate_upload(ALPHA, upload["upload_id"], "x", None)
    incoming = world.objects.incoming_key(upload["upload_id"])
    world.objects.put(incoming, imagegen.jpeg(), "image/jpeg")
    submission = service.validate_upload(ALPHA, upload["upload_id"], "x", None)
    job_id = service.submit(submission, ALPHA).job_id
    # The job works on a copy of its own; the upload is gone.
    job = world.store.get(job_id)
    assert job is not None and world.objects.objects[job.source_key][0] == imagegen.jpeg()
    assert incoming not in world.objects.objects
    with pytest.raises(UploadAlreadyUsed):
        service.submit(submission, ALPHA)
    with pytest.raises(UploadAlreadyUsed):
        service.validate_upload(ALPHA, upload["upload_id"], "x", None)


def test_an_upload_must_be_the_size_its_form_declared(
    service: JobService, world: FakeWorld
) -> None:
    image = imagegen.jpeg()
    for declared, error in ((len(image) + 1, InvalidRequest), (len(image) - 1, UploadTooLarge)):
        upload = service.create_upload(ALPHA, "a.jpg", "image/jpeg", declared)
        world.objects.put(world.objects.incoming_key(upload["upload_id"]), image, "image/jpeg")
        with pytest.raises(error):
            service.validate_upload(ALPHA, upload["upload_id"], "x", None)


def test_a_reused_upload_form_cannot_change_a_job(service: JobService, world: FakeWorld) -> None:
    image = imagegen.jpeg(80, 60)
    upload = service.create_upload(ALPHA, "a.jpg", "image/jpeg", len(image))
    incoming = world.objects.incoming_key(upload["upload_id"])
    world.objects.put(incoming, image, "image/jpeg")
    job_id = service.submit(
        service.validate_upload(ALPHA, upload["upload_id"], "x", None), ALPHA
    ).job_id
    # The same form posted again lands where nobody reads any more.
    world.objects.put(incoming, imagegen.png_with_alpha(), "image/png")
    job = world.store.get(job_id)
    assert job is not None and world.objects.objects[job.source_key][0] == imagegen.jpeg(80, 60)


def test_another_tenants_upload_and_job_do_not_exist(service: JobService, world: FakeWorld) -> None:
    beta = Tenant("beta", "Beta")
    upload = service.create_upload(beta, "b.jpg", "image/jpeg", 1000)
    world.objects.put(
        world.objects.incoming_key(upload["upload_id"]), imagegen.jpeg(), "image/jpeg"
    )
    with pytest.raises(UploadNotFound):
        service.validate_upload(ALPHA, upload["upload_id"], "x", None)
    job_id = submit(service, tenant=beta)
    with pytest.raises(JobNotFound):
        service.status(job_id, ALPHA)
    with pytest.raises(JobNotFound):
        service.delete(job_id, ALPHA)
    assert service.status(job_id, beta)["status"] == "pending"


def test_a_non_image_upload_is_refused_from_its_bytes(
    service: JobService, world: FakeWorld
) -> None:
    upload = service.create_upload(ALPHA, "x.jpg", "image/jpeg", len(b"%PDF-1.7"))
    world.objects.put(world.objects.incoming_key(upload["upload_id"]), b"%PDF-1.7", "image/jpeg")
    with pytest.raises(UnsupportedImage):
        service.validate_upload(ALPHA, upload["upload_id"], "x", None)


def test_callback_urls_are_checked_with_the_services_resolver(service: JobService) -> None:
    service.resolver = lambda host, port: [ipaddress.ip_address("10.0.0.7")]
    with pytest.raises(InvalidCallback):
        service.validate(imagegen.jpeg(), "x", None, "https://hooks.example.com/")
    service.resolver = lambda host, port: [ipaddress.ip_address("93.184.216.34")]
    assert service.validate(imagegen.jpeg(), "x", None, "https://hooks.example.com/").callback_url


def test_status_links_and_deletion(service: JobService, world: FakeWorld) -> None:
    job_id = submit(service)
    key = world.objects.output_key(job_id, "thumbnail.jpg")
    world.objects.put(key, b"jpeg", "image/jpeg")
    result = {"outputs": [{"name": "thumbnail", "key": key}], "timings_ms": {}}
    world.store.transition(job_id, jobs.PROCESSING)
    world.store.transition(job_id, jobs.COMPLETED, result=json.dumps(result))
    body = service.status(job_id, ALPHA)
    assert body["status"] == "completed"
    assert body["result"]["outputs"][0]["url"].startswith("memory://")
    assert "key" not in body["result"]["outputs"][0]
    service.delete(job_id, ALPHA)
    assert world.objects.objects == {}
    with pytest.raises(JobNotFound):
        service.status(job_id, ALPHA)


def test_health_names_the_failing_backend(service: JobService, world: FakeWorld) -> None:
    assert service.health() == {"redis": "ok", "s3": "ok"}
    world.objects.down = True
    assert service.health() == {"redis": "ok", "s3": "service_unavailable"}


@pytest.mark.parametrize(
    ("width", "height", "scans"), [(4000, 3000, 30_000), (640, 480, 500), (200, 100, 102)]
)
def test_a_progressive_jpeg_of_too_many_scans_is_refused_at_submit(
    service: JobService, width: int, height: int, scans: int
) -> None:
    with pytest.raises(UnsupportedImage, match="scans"):
        service.validate(imagegen.progressive_scan_bomb(width, height, scans), "x", None)
    # An ordinary progressive JPEG (about 10 scans) is accepted.
    service.validate(imagegen.jpeg(640, 480, progressive=True), "x", None)


@pytest.mark.parametrize(("pages", "first_ifd_at"), [(40_000, 70_000), (300, 200_000)])
def test_a_direct_upload_whose_header_is_past_its_first_bytes_is_read_whole(
    service: JobService, world: FakeWorld, pages: int, first_ifd_at: int
) -> None:
    image = imagegen.tiff_page_chain(pages, first_ifd_at)
    upload = service.create_upload(ALPHA, "pages.tif", "image/tiff", len(image))
    world.objects.put(world.objects.incoming_key(upload["upload_id"]), image, "image/tiff")
    # Its page chain starts past the first 64 KB: read whole, counted, refused.
    submission = service.validate_upload(ALPHA, upload["upload_id"], "x", None)
    assert submission.header is not None and submission.header.frames == pages
    with pytest.raises(ImageTooLarge, match="frames"):
        service.submit(submission, ALPHA)
    assert world.queue.enqueued == []


def test_a_scan_bomb_uploaded_directly_is_refused_from_its_first_bytes(
    service: JobService, world: FakeWorld
) -> None:
    image = imagegen.progressive_scan_bomb(2000, 1500, 5_000)
    upload = service.create_upload(ALPHA, "scans.jpg", "image/jpeg", len(image))
    world.objects.put(world.objects.incoming_key(upload["upload_id"]), image, "image/jpeg")
    with pytest.raises(UnsupportedImage, match="scans"):
        service.validate_upload(ALPHA, upload["upload_id"], "x", None)


def _first_request_in_flight(service: JobService, key: str) -> str:
    """Claims ``key`` as a first request would before its job exists."""
    submission = service.validate(imagegen.jpeg(64, 48), "Hi", None)
    service.idempotency.claim("alpha", key, submission.fingerprint(), "f" * 32)
    return "f" * 32


def test_a_repeat_racing_a_refused_first_request_gets_the_truth(
    service: JobService, world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.api import service as service_module

    _first_request_in_flight(service, "race")
    # While the repeat waits, the first request is refused and gives the key back.
    monkeypatch.setattr(
        service_module,
        "sleep",
        lambda _s: service.idempotency.release("alpha", "race"),
    )
    job_id = submit(service, key="race")
    assert job_id != "f" * 32 and world.store.get(job_id) is not None
    assert world.queue.enqueued == [job_id]


def test_a_repeat_gets_the_first_requests_job_once_it_exists(
    service: JobService, world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.api import service as service_module

    first = submit(service, key="slow")
    record = world.store.records[first]
    world.store.delete(first)  # the first request has claimed the key, no record yet
    waits: list[float] = []

    def first_request_creates_its_job(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            world.store.client.hset(world.store.key(first), mapping=record)

    monkeypatch.setattr(service_module, "sleep", first_request_creates_its_job)
    assert submit(service, key="slow") == first
    assert len(waits) == 3


def test_a_repeat_whose_first_request_never_ends_is_a_409_not_a_202(
    service: JobService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.api import service as service_module

    _first_request_in_flight(service, "stuck")
    waits: list[float] = []
    monkeypatch.setattr(service_module, "sleep", waits.append)
    with pytest.raises(IdempotencyConflict, match="still being processed"):
        submit(service, key="stuck")
    assert round(sum(waits), 6) == service_module.IDEMPOTENCY_WAIT_SECONDS


def test_a_listing_is_the_tenants_jobs_newest_first_page_by_page(
    service: JobService, world: FakeWorld
) -> None:
    beta = Tenant("beta", "Beta")
    mine = [submit(service) for _ in range(5)]
    theirs = submit(service, tenant=beta)
    first = service.list_jobs(ALPHA, {"limit": "2"})
    assert [j["job_id"] for j in first["jobs"]] == mine[::-1][:2]
    second = service.list_jobs(ALPHA, {"limit": "2", "cursor": first["next_cursor"]})
    third = service.list_jobs(ALPHA, {"limit": "2", "cursor": second["next_cursor"]})
    listed = [j["job_id"] for page in (first, second, third) for j in page["jobs"]]
    assert listed == mine[::-1] and theirs not in listed
    assert third["next_cursor"] is None
    assert first["jobs"][0]["status_url"] == f"/api/status/{mine[-1]}"
    assert [j["job_id"] for j in service.list_jobs(beta, None)["jobs"]] == [theirs]


def test_a_listing_filters_by_status_and_forgets_deleted_and_expired_jobs(
    service: JobService, world: FakeWorld
) -> None:
    done, gone, expired, waiting = (submit(service) for _ in range(4))
    world.store.transition(done, jobs.PROCESSING)
    world.store.transition(done, jobs.COMPLETED, progress=100)
    service.delete(gone, ALPHA)
    world.store.client.delete(world.store.key(expired))
    listed = service.list_jobs(ALPHA, {"status": "completed"})
    assert [j["job_id"] for j in listed["jobs"]] == [done] and listed["next_cursor"] is None
    everything = [j["job_id"] for j in service.list_jobs(ALPHA, {})["jobs"]]
    assert everything == [waiting, done]
    index = world.store.client.zrange(world.store.tenant_index("alpha"), 0, -1)
    assert set(index) == {done, waiting}
    assert world.store.client.ttl(world.store.tenant_index("alpha")) > 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "done"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"cursor": "nonsense"}, "cursor"),
        ({"cursor": "1.5_" + "g" * 32}, "cursor"),
        ({"cursor": "inf_" + "a" * 32}, "cursor"),
        ({"cursor": ""}, "cursor"),
        ({"cursor": "1e9_" + "a" * 32}, "cursor"),
        ({"page": "2"}, "page"),
    ],
)
def test_a_bad_listing_query_is_invalid_request(
    service: JobService, query: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        service.list_jobs(ALPHA, query)
    assert raised.value.details.get("field") == field
