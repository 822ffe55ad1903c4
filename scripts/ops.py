"""Operator commands: read and replay dead letters, reconcile stuck jobs, show the queue.

    python -m scripts.ops dead-letters            # list (newest last)
    python -m scripts.ops dead-letters --replay   # queue replayable entries again
    python -m scripts.ops dead-letters --purge
    python -m scripts.ops reconcile               # queue jobs stuck without a task
    python -m scripts.ops queue                   # queue length and active jobs

Settings come from the environment, like the service's (``.env`` is read too).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from chalicelib.deadletters import DeadLetters, replayable_job_id
from chalicelib.jobstore import RedisJobStore, make_job_store
from chalicelib.monitoring import queue_figures
from chalicelib.queue import CeleryTaskQueue
from chalicelib.reconcile import reconcile_stuck_jobs
from chalicelib.settings import Settings


def _store(settings: Settings) -> RedisJobStore:
    return make_job_store(settings)


def dead_letters(settings: Settings, replay: bool, purge: bool, limit: int) -> dict[str, Any]:
    letters = DeadLetters(_store(settings))
    if purge:
        return {"purged": letters.purge()}
    if not replay:
        return {"count": letters.count(), "entries": letters.list(limit)}
    queue = CeleryTaskQueue(settings)
    replayed, kept = [], []
    # Take each entry once; what cannot be replayed goes back at the end.
    for _ in range(letters.count()):
        entry = letters.take()
        if entry is None:
            break
        job_id = replayable_job_id(entry)
        if job_id is None:
            kept.append(entry)
            continue
        queue.enqueue(job_id)
        replayed.append(job_id)
    for entry in kept:
        letters.put_back(entry)
    return {"replayed": replayed, "kept": len(kept)}


def run_reconcile(settings: Settings) -> dict[str, Any]:
    report = reconcile_stuck_jobs(_store(settings), CeleryTaskQueue(settings), settings)
    return {
        "checked": report.checked,
        "requeued": report.requeued,
        "forgotten": len(report.forgotten),
    }


def queue_state(settings: Settings) -> dict[str, Any]:
    store = _store(settings)
    return {
        "queue": settings.celery_queue,
        **queue_figures(store, CeleryTaskQueue(settings)),
        "ActiveJobs": len(store.active_before(float("inf"), limit=100_000)),
    }


def main(argv: list[str] | None = None) -> int:
    from scripts.stack import load_env

    parser = argparse.ArgumentParser(
        prog="python -m scripts.ops",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    letters = commands.add_parser("dead-letters", help="list, replay or purge dead letters")
    letters.add_argument("--replay", action="store_true")
    letters.add_argument("--purge", action="store_true")
    letters.add_argument("--limit", type=int, default=100)
    commands.add_parser("reconcile", help="queue jobs stuck without a task")
    commands.add_parser("queue", help="queue length, active jobs, dead letters")
    args = parser.parse_args(argv)

    settings = Settings.from_env(load_env())
    if args.command == "dead-letters":
        result = dead_letters(settings, args.replay, args.purge, args.limit)
    elif args.command == "reconcile":
        result = run_reconcile(settings)
    else:
        result = queue_state(settings)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
