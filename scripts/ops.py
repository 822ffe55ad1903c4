"""Operator commands: read and replay dead letters, reconcile stuck jobs, show the queue.

    python -m scripts.ops dead-letters            # list (newest last)
    python -m scripts.ops dead-letters --replay   # queue replayable entries again
    python -m scripts.ops dead-letters --purge
    python -m scripts.ops reconcile               # queue jobs stuck without a task
    python -m scripts.ops queue                   # queue length and active jobs
    python -m scripts.ops tenants create acme "Acme Ltd" [--limit jobs_in_flight=5 ...]
    python -m scripts.ops tenants list            # tenants, their key ids, limits and usage
    python -m scripts.ops tenants add-key acme    # another key (shown once)
    python -m scripts.ops tenants revoke-key 1a2b3c4d     # a key id, or the whole key
    python -m scripts.ops tenants rotate-webhook-secret acme
    python -m scripts.ops tenants set-limits acme work_seconds_per_hour=7200

Settings come from the environment, like the service's, over ``.local/dev.env`` (the
running ``make dev``'s settings: its Redis, key prefix and queue) over ``.env``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from chalicelib.backends import Backends
from chalicelib.broker.dead_letters import replayable_job_id
from chalicelib.broker.health import queue_figures
from chalicelib.core.errors import ServiceError
from chalicelib.core.settings import Settings
from chalicelib.jobs.batch_feed import reconcile_batches
from chalicelib.jobs.reconcile import reconcile_stuck_jobs
from chalicelib.tenancy.tenants import describe


def dead_letters(backends: Backends, replay: bool, purge: bool, limit: int) -> dict[str, Any]:
    letters = backends.dead_letters
    if purge:
        return {"purged": letters.purge()}
    if not replay:
        return {"count": letters.count(), "entries": letters.list(limit)}
    queue = backends.queue
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
        job = backends.store.get(job_id)
        queue.enqueue(job_id, job.queue if job and job.queue else None)
        replayed.append(job_id)
    for entry in kept:
        letters.put_back(entry)
    return {"replayed": replayed, "kept": len(kept)}


def run_reconcile(backends: Backends) -> dict[str, Any]:
    report = reconcile_stuck_jobs(
        backends.store, backends.queue, backends.inspector, backends.settings, backends.batches
    )
    batches = reconcile_batches(backends.batch_feeder())
    return {
        "checked": report.checked,
        "requeued": report.requeued,
        "forgotten": len(report.forgotten),
        "batches_checked": batches.checked,
        "batch_jobs_fed": batches.queued,
        "batches_finished": batches.finished,
    }


def queue_state(backends: Backends) -> dict[str, Any]:
    store = backends.store
    return {
        "queue": backends.settings.celery_queue,
        **queue_figures(store, backends.inspector, backends.dead_letters),
        "ActiveJobs": len(store.active_before(float("inf"), limit=100_000)),
    }


def _limits(pairs: list[str]) -> dict[str, float]:
    """``name=number`` pairs; the names and ranges are checked where they are kept
    (``chalicelib.tenancy.limits.checked_limits``), before anything is written."""
    limits = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        try:
            if not equals:
                raise ValueError
            limits[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"a limit is name=number, not {pair!r}") from None
    return limits


def tenants(backends: Backends, args: argparse.Namespace) -> dict[str, Any]:
    """The tenant commands; a key or a secret is shown once, here."""
    store = backends.tenants
    if args.action == "create":
        tenant, api_key = store.create(args.tenant, args.name or args.tenant, _limits(args.limit))
        return {
            "tenant": tenant.tenant_id,
            "api_key": api_key,
            "webhook_secret": tenant.webhook_secret,
            "note": "Shown once: only a digest of the key is kept.",
        }
    if args.action == "add-key":
        if store.get(args.tenant) is None:
            raise SystemExit(f"no tenant {args.tenant!r}")
        return {"tenant": args.tenant, "api_key": store.add_key(args.tenant)}
    if args.action == "revoke-key":
        return {"revoked": args.key_id, "tenant": store.revoke_key(args.key_id)}
    if args.action == "rotate-webhook-secret":
        return {
            "tenant": args.tenant,
            "webhook_secret": store.rotate_webhook_secret(args.tenant),
            "note": "The previous secret keeps signing beside it for 24 hours.",
        }
    if args.action == "webhook-secret":
        found = store.get(args.tenant)
        if found is None:
            raise SystemExit(f"no tenant {args.tenant!r}")
        return {
            "tenant": found.tenant_id,
            "webhook_secrets": found.webhook_secrets(backends.settings),
            "note": "Webhooks carry one v1= signature per secret, the current one first.",
        }
    if args.action == "set-limits":
        tenant = store.set_limits(args.tenant, _limits(args.limit))
        return describe(tenant, backends.settings, backends.quotas.usage(tenant.tenant_id))
    return {
        "tenants": [
            {
                **describe(t, backends.settings, backends.quotas.usage(t.tenant_id)),
                "key_ids": store.key_ids(t.tenant_id),
            }
            for t in store.all()
        ]
    }


def main(argv: list[str] | None = None) -> int:
    from scripts.devstack.stack import STACK_FILE, load_env

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
    tenant_parser = commands.add_parser("tenants", help="tenants, their API keys and limits")
    actions = tenant_parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a tenant with its first API key")
    create.add_argument("tenant", help="its id: lowercase letters, digits, '-'")
    create.add_argument("name", nargs="?", default="")
    create.add_argument("--limit", action="append", default=[], metavar="NAME=NUMBER")
    actions.add_parser("list", help="every tenant, its key ids, limits and usage")
    add_key = actions.add_parser("add-key", help="another API key for a tenant")
    add_key.add_argument("tenant")
    revoke = actions.add_parser("revoke-key", help="revoke a key by its id (mj_<id>_...)")
    revoke.add_argument("key_id")
    show_secret = actions.add_parser(
        "webhook-secret", help="the secrets a tenant's webhooks are signed with now"
    )
    show_secret.add_argument("tenant", help="its id (`tenants list` shows those of API_KEYS)")
    rotate = actions.add_parser("rotate-webhook-secret", help="a new webhook secret")
    rotate.add_argument("tenant")
    set_limits = actions.add_parser("set-limits", help="change a tenant's limits")
    set_limits.add_argument("tenant")
    set_limits.add_argument("limit", nargs="+", metavar="NAME=NUMBER")
    args = parser.parse_args(argv)

    backends = Backends.from_settings(Settings.from_env(load_env(STACK_FILE)))
    if args.command == "dead-letters":
        result = dead_letters(backends, args.replay, args.purge, args.limit)
    elif args.command == "reconcile":
        result = run_reconcile(backends)
    elif args.command == "tenants":
        try:
            result = tenants(backends, args)
        except ServiceError as exc:
            print(exc.message, file=sys.stderr)
            return 2
    else:
        result = queue_state(backends)
    return write_json(result)


def write_json(result: Any) -> int:
    """Print ``result``; a reader that stops early (``| head``) ends this quietly."""
    try:
        json.dump(result, sys.stdout, indent=2)
        print(flush=True)
    except BrokenPipeError:
        # Nothing more can be written; keep the interpreter's final flush quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
