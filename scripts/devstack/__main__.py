"""``make dev``: ``python -m scripts.devstack`` runs the whole local stack until Ctrl-C.

It reads the settings (the environment over ``.env`` over ``.env.example``), checks
that the API's port is free, starts every component (``DevStack.start_all``, the API
with the app's schedules), writes the effective settings to ``.local/dev.env`` (read
by ``scripts.ops`` and the client), prints ``Ready``, and stops everything it started
when interrupted or when a component exits.
"""

from __future__ import annotations

import signal
import sys
import time
from typing import Any

from scripts.devstack.processes import StackError
from scripts.devstack.stack import STACK_FILE, DevStack, load_env

# How often `make dev` looks for workers it did not start on its queue.
CHECK_EVERY = 30.0


def main() -> int:
    env = load_env()
    from chalicelib.core.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        print(f"Invalid setting: {exc}", file=sys.stderr)
        return 2
    stack = DevStack(env)
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        print("Starting the local stack…", flush=True)
        api_url = stack.start_all(settings.worker_count, settings.api_port, schedules=True)
        prefix = stack.env.get("REDIS_KEY_PREFIX")
        stack_file = stack.write_stack_file()
        redis = stack.env["REDIS_URL"]
        if stack.own_redis is not None:
            redis += f" (started here: pid {stack.own_redis.pid}, data kept in .local/redis)"
        else:
            redis += " (already running; not started here)"
        print(
            f"""
Ready: API {api_url}  ·  S3 {stack.env["AWS_ENDPOINT_URL"]}  ·  bucket {settings.s3_bucket}
       Redis {redis}
       queue {stack.env.get("CELERY_QUEUE", "images")}  ·  key prefix {prefix or "(none)"}
       {settings.worker_count} workers  ·  logs in {stack.log_dir}
       settings for other shells in {stack_file.relative_to(STACK_FILE.parents[1])} (scripts.ops
       and the client read it)

Try it:
  curl -s -F image=@photo.jpg -F text='Hello' {api_url}/api/process
  curl -s {api_url}/api/status/<job_id>
  .venv/bin/python -m scripts.ops tenants create acme "Acme Ltd"

Ctrl-C stops everything.""",
            flush=True,
        )
        stack.warn_of_foreign_consumers()
        next_check = time.monotonic() + CHECK_EVERY
        while True:
            for process in stack.processes:
                if process.poll() is not None:
                    print(
                        f"{process.name} exited with {process.poll()}; see {process.log_path}",
                        file=sys.stderr,
                    )
                    return 1
            if time.monotonic() >= next_check:
                stack.warn_of_foreign_consumers()
                next_check = time.monotonic() + CHECK_EVERY
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except StackError as exc:
        print(f"Could not start the stack: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("Stopping…", flush=True)
        stack.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
