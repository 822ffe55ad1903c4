"""The local stand-in for EventBridge: which schedules run, and the event they get."""

from __future__ import annotations

import sys
import types

from chalice.app import Chalice, CloudWatchEvent, Cron, Rate

from scripts.devserver import schedules


def test_the_apps_rate_schedules_are_found_with_their_period() -> None:
    import app as service

    found = {name: period for name, period, _ in schedules.rate_schedules(service.app)}
    assert found == {"watch_queue": 60.0}


def test_a_handler_gets_an_event_chalice_reads_and_runs() -> None:
    module = types.ModuleType("schedules_sample_app")
    sample = Chalice("sample")
    seen: list[CloudWatchEvent] = []

    @sample.schedule(Rate(2, unit=Rate.HOURS), name="every_two_hours")
    def every_two_hours(event: CloudWatchEvent) -> str:
        seen.append(event)
        return "ran"

    @sample.schedule(Cron(0, 12, "*", "*", "?", "*"), name="noon")
    def noon(event: CloudWatchEvent) -> None:  # pragma: no cover - never run locally
        raise AssertionError

    module.every_two_hours = every_two_hours  # type: ignore[attr-defined]
    module.noon = noon  # type: ignore[attr-defined]
    for source in sample.event_sources:
        source.handler_string = f"schedules_sample_app.{source.name}"
    sys.modules["schedules_sample_app"] = module
    try:
        found = schedules.rate_schedules(sample)
    finally:
        del sys.modules["schedules_sample_app"]
    assert [(name, period) for name, period, _ in found] == [("every_two_hours", 7200.0)]
    assert found[0][2](schedules.scheduled_event("every_two_hours"), None) == "ran"
    assert seen[0].detail_type == "Scheduled Event"
    assert seen[0].resources == ["arn:aws:events:local:000000000000:rule/every_two_hours"]
