from __future__ import annotations

import itertools

import pytest

from chalicelib.jobs import model as jobs
from chalicelib.jobs.model import Job


def test_terminal_statuses_never_change() -> None:
    for terminal, target in itertools.product(jobs.TERMINAL, jobs.STATUSES):
        assert not jobs.can_transition(terminal, target)


def test_the_normal_path_is_allowed() -> None:
    assert jobs.can_transition(jobs.PENDING, jobs.PROCESSING)
    assert jobs.can_transition(jobs.PROCESSING, jobs.PROCESSING)  # a redelivery
    assert jobs.can_transition(jobs.PROCESSING, jobs.COMPLETED)
    assert jobs.can_transition(jobs.PROCESSING, jobs.FAILED)
    assert not jobs.can_transition(jobs.PENDING, jobs.COMPLETED)
    assert not jobs.can_transition(jobs.PROCESSING, jobs.PENDING)


def test_sources_of_matches_the_table() -> None:
    assert sorted(jobs.sources_of(jobs.COMPLETED)) == [jobs.PROCESSING]
    assert sorted(jobs.sources_of(jobs.FAILED)) == [jobs.PENDING, jobs.PROCESSING]


def test_record_round_trip() -> None:
    job = Job(
        job_id="a" * 32,
        status=jobs.COMPLETED,
        created_at=1.5,
        updated_at=2.25,
        text="héllo\nworld",
        options={"renditions": [{"name": "x"}]},
        progress=100,
        error_code=None,
        result={"outputs": [], "image": {"width": 1}},
    )
    record = job.to_record()
    assert all(isinstance(v, str) for v in record.values())
    assert Job.from_record(record) == job
    assert job.error is None
    failed = Job(
        job_id="b" * 32,
        status=jobs.FAILED,
        created_at=0,
        updated_at=0,
        error_code="corrupt_image",
        error_message="bad",
    )
    assert Job.from_record(failed.to_record()).error == {"code": "corrupt_image", "message": "bad"}


@pytest.mark.parametrize(
    "job_id", ["a" * 32 + "\n", "a" * 32 + "\r\n", "\n" + "a" * 31, "A" * 32, "a" * 33, ""]
)
def test_job_ids_match_whole(job_id: str) -> None:
    from chalicelib.core.errors import InvalidJobId
    from chalicelib.jobs.contract import check_job_id

    with pytest.raises(InvalidJobId):
        check_job_id(job_id)
